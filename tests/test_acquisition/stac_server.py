"""A real STAC API and COG file server on 127.0.0.1 for the acquisition tests (no internet needed).

:class:`StacTestServer` runs a ``ThreadingHTTPServer`` on an ephemeral port in a background thread
and implements what pystac-client and GDAL's ``/vsicurl/`` reader use:

* ``/`` landing page with ``conformsTo`` and links, ``/conformance``, ``/collections``,
  ``/collections/{id}``;
* ``/search`` by GET and POST: ``collections``, ``bbox``, ``intersects`` (by the geometry's bounding
  box), ``datetime`` intervals (open ends ``..``), the ``query`` extension on numeric properties
  (``eo:cloud_cover``), ``limit`` with a ``next`` link (a ``token`` in the query string or body);
* ``/data/<name>`` files with HTTP Range requests (``206 Partial Content``, ``Accept-Ranges``,
  ``Content-Range``) and HEAD.

Faults make the error paths testable: ``server.faults["/data/x.tif"] = ["503", "503"]`` answers the
next two requests for that path with 503 (then normally); a fault ending in ``*`` (``"404*"``,
``"401*"``, ``"drop*"``) applies to every request; ``"drop"`` sends the headers and half the bytes,
then closes the socket. Every request is logged as ``(method, path, status)`` in ``server.log``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.test_acquisition.archive import Archive, build_archive

STAC_VERSION = "1.0.0"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
_OPS = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
}


def _parse_time(text: str) -> datetime | None:
    return None if text in ("", "..") else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _geometry_bbox(geometry: dict[str, Any]) -> list[float]:
    coords = re.findall(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?", json.dumps(geometry["coordinates"]))
    xs, ys = [float(c) for c in coords[0::2]], [float(c) for c in coords[1::2]]
    return [min(xs), min(ys), max(xs), max(ys)]


def _bbox_overlap(a: list[float], b: list[float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


class StacTestServer:
    """STAC API + range-capable file server over ``items`` and the files under ``/data/``."""

    def __init__(self, items: list[dict[str, Any]], files: dict[str, Path], collections: list[dict[str, Any]]):
        self.items = items
        self.files = files  # "/data/<name>" -> local path
        self.collections = {c["id"]: c for c in collections}
        self.faults: dict[str, list[str]] = {}
        self.log: list[tuple[str, str, int]] = []
        self.search_bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> StacTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests_for(self, path: str) -> list[tuple[str, str, int]]:
        return [entry for entry in self.log if entry[1] == path]

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()
            self.search_bodies.clear()

    def next_fault(self, path: str, method: str) -> str | None:
        """The fault for this request (consumed unless it ends in ``*``); HEAD never takes a drop."""
        with self._lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            fault = queue[0].rstrip("*")
            if method == "HEAD" and fault == "drop":
                return None
            if not queue[0].endswith("*"):
                queue.pop(0)
            return fault

    # -- search ----------------------------------------------------------------------------
    def search(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
        """Items matching ``params`` (STAC search body) and the next page's token, if any."""
        found = sorted(self.items, key=lambda it: (it["properties"]["datetime"], it["id"]))
        if params.get("collections"):
            wanted = set(params["collections"])
            found = [it for it in found if it["collection"] in wanted]
        if params.get("ids"):
            found = [it for it in found if it["id"] in set(params["ids"])]
        box = params.get("bbox") or (_geometry_bbox(params["intersects"]) if params.get("intersects") else None)
        if box:
            found = [it for it in found if _bbox_overlap(box, it["bbox"])]
        if params.get("datetime"):
            text = params["datetime"]
            start, end = text.split("/", 1) if "/" in text else (text, text)
            t0, t1 = _parse_time(start), _parse_time(end)
            found = [
                it
                for it in found
                if (t0 is None or _parse_time(it["properties"]["datetime"]) >= t0)
                and (t1 is None or _parse_time(it["properties"]["datetime"]) <= t1)
            ]
        for prop, conditions in (params.get("query") or {}).items():
            found = [
                it
                for it in found
                if prop in it["properties"]
                and all(_OPS[op](it["properties"][prop], value) for op, value in conditions.items())
            ]
        limit = int(params.get("limit") or 10)
        start_at = int(params.get("token") or 0)
        page = found[start_at : start_at + limit]
        more = start_at + limit < len(found)
        return page, (start_at + limit if more else None)

    # -- HTTP --------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                return

            def _record(self, status: int) -> None:
                with server._lock:
                    server.log.append((self.command, urlsplit(self.path).path, status))

            def _json(self, payload: Any, status: int = 200) -> None:
                body = json.dumps(payload).encode()
                self._record(status)
                self.send_response(status)
                ctype = "application/geo+json" if isinstance(payload, dict) and "features" in payload else None
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int) -> None:
                self._json({"code": str(status), "description": f"HTTP {status}"}, status)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                if path.startswith("/data/"):
                    self._file(path)
                elif path == "/":
                    self._json(self._landing())
                elif path == "/conformance":
                    self._json({"conformsTo": CONFORMANCE})
                elif path == "/collections":
                    self._json({"collections": list(server.collections.values()), "links": []})
                elif path.startswith("/collections/") and path.count("/") == 2:
                    cid = path.split("/")[2]
                    if cid in server.collections:
                        self._json(server.collections[cid])
                    else:
                        self._error(404)
                elif path == "/search":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    params: dict[str, Any] = dict(query)
                    if "collections" in query:
                        params["collections"] = query["collections"].split(",")
                    if "bbox" in query:
                        params["bbox"] = [float(v) for v in query["bbox"].split(",")]
                    for key in ("intersects", "query"):
                        if key in query:
                            params[key] = json.loads(query[key])
                    self._search(params, "GET")
                else:
                    self._error(404)

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/search":
                    self._error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                params = json.loads(self.rfile.read(length) or b"{}")
                self._search(params, "POST")

            def _landing(self) -> dict[str, Any]:
                root = server.url
                return {
                    "type": "Catalog",
                    "id": "cloudfree-test",
                    "stac_version": STAC_VERSION,
                    "description": "local STAC API for cloudfree tests",
                    "conformsTo": CONFORMANCE,
                    "links": [
                        {"rel": "self", "href": f"{root}/", "type": "application/json"},
                        {"rel": "root", "href": f"{root}/", "type": "application/json"},
                        {"rel": "conformance", "href": f"{root}/conformance", "type": "application/json"},
                        {"rel": "data", "href": f"{root}/collections", "type": "application/json"},
                        {"rel": "search", "href": f"{root}/search", "type": "application/geo+json", "method": "GET"},
                        {"rel": "search", "href": f"{root}/search", "type": "application/geo+json", "method": "POST"},
                    ],
                }

            def _search(self, params: dict[str, Any], method: str) -> None:
                with server._lock:
                    server.search_bodies.append({"method": method, **params})
                page, token = server.search(params)
                links: list[dict[str, Any]] = [{"rel": "root", "href": f"{server.url}/"}]
                if token is not None:
                    if method == "POST":
                        body = {**params, "token": token}
                        links.append({"rel": "next", "href": f"{server.url}/search", "method": "POST", "body": body})
                    else:
                        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                        query["token"] = str(token)
                        links.append({"rel": "next", "href": f"{server.url}/search?{urlencode(query)}"})
                self._json({"type": "FeatureCollection", "features": page, "links": links})

            def _file(self, path: str) -> None:
                fault = server.next_fault(path, self.command)
                if fault in ("401", "403", "404", "500", "502", "503"):
                    self._error(int(fault))
                    return
                local = server.files.get(path)
                if local is None or not local.exists():
                    self._error(404)
                    return
                data = local.read_bytes()
                start, end, status = 0, len(data) - 1, 200
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if match:
                    start = int(match.group(1))
                    end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
                    if start >= len(data):
                        self._record(416)
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                chunk = data[start : end + 1]
                self._record(status)
                self.send_response(status)
                self.send_header("Content-Type", "image/tiff; application=geotiff; profile=cloud-optimized")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(chunk)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "drop" and len(chunk) > 1:
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(chunk)

        return Handler


@pytest.fixture(scope="session")
def stac_archive(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StacTestServer, Archive]]:
    """The running server with the archive built from ../shared/data (one per test session)."""
    server = StacTestServer([], {}, [])
    archive = build_archive(shared_data, tmp_path_factory.mktemp("stac_archive"), server.url)
    server.items = archive.items
    server.files.update(archive.files)
    server.collections = {c["id"]: c for c in archive.collections()}
    server.start()
    yield server, archive
    server.stop()


@pytest.fixture
def stac(stac_archive: tuple[StacTestServer, Archive]) -> Iterator[tuple[StacTestServer, Archive]]:
    """The session server with faults, request log and recorded searches cleared before and after."""
    server, archive = stac_archive
    server.reset()
    yield server, archive
    server.reset()
