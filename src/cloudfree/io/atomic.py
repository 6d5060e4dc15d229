"""Write-then-rename helpers so that no output is ever left half-written, nor its temporaries forever.

Every temporary belongs to one output and one process: ``.{name}.{tag}-{host}-{pid}-{rand}{suffix}``
beside the output ``name`` (same folder, so the final rename is atomic). A process killed with
``kill -9`` cannot clean up, so the next run that writes the same output removes the temporaries
of that output whose process is gone (same host, pid no longer running) before it starts; GDAL's
side files of a temporary (``.ovr.tmp``, ``.aux.xml``, ``.msk``) share its prefix and go with it.
Names from older versions (``.{name}.{tag}-{8 hex}{suffix}``) are removed when over an hour old.

Published files get the permissions of a normally created file (``0666 & ~umask``, 0644 under the
usual umask 022): temporary writers such as safetensors create private (0600) files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_OURS = re.compile(r"^(?P<tag>[a-z]+)-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{6}")
_LEGACY = re.compile(r"^[a-z]+-[0-9a-f]{8}(\.|$)")
LEGACY_AGE_S = 3600.0
# A stale "old" temporary is the previous version of a folder output, moved aside just before the
# new one was renamed in: when the output is missing it is put back, not deleted.
RESTORABLE_TAGS = ("old",)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def stale_temporaries(final: Path) -> list[Path]:
    """Temporaries of ``final`` left by dead processes on this host (and old legacy-named ones)."""
    prefix = f".{final.name}."
    try:
        entries = [e for e in final.parent.iterdir() if e.name.startswith(prefix)]
    except OSError:
        return []
    stale = []
    for entry in entries:
        rest = entry.name[len(prefix) :]
        match = _OURS.match(rest)
        if match:
            if match["host"] == HOST and int(match["pid"]) != os.getpid() and not pid_alive(int(match["pid"])):
                stale.append(entry)
        elif _LEGACY.match(rest):
            with contextlib.suppress(OSError):
                if time.time() - entry.lstat().st_mtime > LEGACY_AGE_S:
                    stale.append(entry)
    return sorted(stale)


def remove_stale_temporaries(final: str | os.PathLike[str]) -> list[Path]:
    """Delete the stale temporaries of ``final`` (a restorable one goes back if ``final`` is gone)."""
    final = Path(final)
    removed = []
    for entry in stale_temporaries(final):
        match = _OURS.match(entry.name[len(final.name) + 2 :])
        if match and match["tag"] in RESTORABLE_TAGS and not final.exists():
            with contextlib.suppress(OSError):
                os.replace(entry, final)
                continue
        _remove(entry)
        removed.append(entry)
    return removed


def temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A unique temporary name next to ``path`` (same directory, so the rename is atomic).

    Stale temporaries of the same output (their process is gone) are removed first.
    """
    path = Path(path)
    if not re.fullmatch(r"[a-z]+", tag):
        raise ValueError(f"temporary tag must be lowercase letters, got {tag!r}")
    remove_stale_temporaries(path)
    return path.with_name(f".{path.name}.{tag}-{HOST}-{os.getpid()}-{secrets.token_hex(3)}{path.suffix}")


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it races with threads)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("Umask:"))
        return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_mode(path: Path) -> None:
    """Give ``path`` the mode of a normally created file or folder (``0666`` / ``0777`` minus the umask)."""
    base = 0o777 if path.is_dir() else 0o666
    with contextlib.suppress(OSError):
        os.chmod(path, base & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on success rename it onto ``path``, on failure delete it.

    GDAL side files of the temporary (``.aux.xml``, ``.ovr``, ``.ovr.tmp``) are removed too; the
    published file gets the usual permissions (:func:`publish_mode`).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    try:
        yield tmp
        if tmp.exists():
            publish_mode(tmp)
        os.replace(tmp, final)
    finally:
        for leftover in (tmp, *(Path(str(tmp) + side) for side in (".aux.xml", ".ovr", ".ovr.tmp"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


@contextlib.contextmanager
def temp_directory(tag: str, near: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A scratch folder removed on exit, named so that a later run can remove it after ``kill -9``.

    With ``near`` (an output path) the folder is a hidden sibling of that output (cleaned with the
    output's other temporaries); without, it is ``cloudfree-{tag}-{host}-{pid}-{rand}`` in the
    system temporary folder, and stale ones of the same tag are removed first.
    """
    if near is not None:
        folder = temp_sibling(Path(near), tag).with_suffix("")
        folder.parent.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.gettempdir())
        for entry in root.glob(f"cloudfree-{tag}-{HOST}-*"):
            match = re.fullmatch(rf"cloudfree-{tag}-{HOST}-(\d+)-[0-9a-f]{{6}}", entry.name)
            if match and int(match[1]) != os.getpid() and not pid_alive(int(match[1])):
                _remove(entry)
        folder = root / f"cloudfree-{tag}-{HOST}-{os.getpid()}-{secrets.token_hex(3)}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
