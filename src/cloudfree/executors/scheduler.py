"""``--scheduler``: where a batch's scene tasks run, parsed and checked before anything starts.

``None`` (or empty): sequentially in this process; ``local`` / ``local:N``: a
``distributed.LocalCluster`` of N single-threaded worker processes on 127.0.0.1 (N defaults to the
number of CPU cores); ``tcp://HOST:PORT`` (or ``tls://``): a running Dask scheduler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cloudfree.errors import CloudfreeError

SCHEDULER_HELP = (
    "run a batch of scenes as Dask tasks: 'local' or 'local:N' (N worker processes on this machine, "
    "default one per core) or the address of a running Dask scheduler (tcp://HOST:PORT); "
    "default: one scene after the other in this process"
)


class SchedulerError(CloudfreeError, ValueError):
    """A ``--scheduler`` value that is not ``local``, ``local:N`` or a scheduler address, or one unreachable."""


@dataclass(frozen=True)
class Scheduler:
    """A parsed ``--scheduler``: ``kind`` is ``"sequential"``, ``"local"`` (``workers`` processes) or ``"address"``."""

    kind: str
    workers: int | None = None
    address: str | None = None


def parse_scheduler(text: str | None) -> Scheduler:
    """``None``/``""`` -> sequential, ``local`` / ``local:N`` -> a LocalCluster, ``tcp://HOST:PORT`` -> that scheduler.

    Raises :class:`SchedulerError` naming the value and what is accepted.
    """
    if text is None or not str(text).strip():
        return Scheduler("sequential")
    value = str(text).strip()
    accepted = "expected 'local', 'local:N' (N >= 1 worker processes) or a scheduler address tcp://HOST:PORT"
    if value == "local":
        return Scheduler("local", workers=os.cpu_count() or 1)
    if value.startswith("local:"):
        n = value.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise SchedulerError(f"--scheduler {value!r}: {accepted}")
        return Scheduler("local", workers=int(n))
    scheme, sep, rest = value.partition("://")
    host, colon, port = rest.rpartition(":")
    if sep and scheme in ("tcp", "tls") and colon and host and port.isdigit() and 0 < int(port) < 65536:
        return Scheduler("address", address=value)
    raise SchedulerError(f"--scheduler {value!r}: {accepted}")


def scheduler_argument(text: str) -> str:
    """``argparse`` ``type=`` for ``--scheduler``: the value itself once :func:`parse_scheduler` accepts it."""
    import argparse

    try:
        parse_scheduler(text)
    except SchedulerError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
