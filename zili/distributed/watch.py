"""A watcher that names the rank that died when the launcher kills the whole job.

MPICH's ``mpirun`` (Hydra) SIGKILLs every other rank as soon as one rank dies by a signal,
even with ``-disable-auto-cleanup``: the survivors never get to say anything, and the
launcher's report names only a pid. So the lowest rank on each host starts this script as
a small process in a session of its own (out of reach of the launcher's kill) that waits
for the ranks of its host to exit. Each rank leaves a file ``<folder>/<rank>`` while it
runs and removes it when it ends normally (or after it reported its own error); a rank
that exits with its file still there died. The first such rank is reported on stderr
("zili.distributed: rank 1 (pid 4242 on node3) died ..."); ranks that die after it were
stopped by the launcher. The watcher ends when every rank of its host has exited.

It imports nothing from zili (it runs as ``python watch.py FOLDER HOST RANK:PID ...``).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import sys
import time


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _wait_any(pids: dict[int, int], fds: dict[int, int]) -> list[int]:
    """Block until at least one of ``pids`` (rank -> pid) exited; returns those ranks."""
    while True:
        if fds:
            poller = select.poll()
            for fd in fds.values():
                poller.register(fd, select.POLLIN)
            poller.poll(1000)  # a timeout too, in case a pidfd missed (pid reuse is rare)
        else:
            time.sleep(0.02)
        gone = [r for r, pid in pids.items() if not _alive(pid)]
        if gone:
            return gone


def watch(folder: str, host: str, ranks: dict[int, int]) -> int:
    """Wait for ``ranks`` (rank -> pid, all on this host) to exit; report the first that
    died without removing its file from ``folder``. Returns 0."""
    fds: dict[int, int] = {}
    for r, pid in ranks.items():
        with contextlib.suppress(AttributeError, OSError):  # old kernel: poll /proc instead
            fds[r] = os.pidfd_open(pid)
    try:
        _report_deaths(folder, host, ranks, fds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _report_deaths(folder: str, host: str, ranks: dict[int, int], fds: dict[int, int]) -> None:
    pending = dict(ranks)
    reported = False
    while pending:
        gone = _wait_any(pending, {r: fd for r, fd in fds.items() if r in pending})
        died = [r for r in gone if os.path.exists(os.path.join(folder, str(r)))]
        if died and not reported:
            reported = True
            names = " and ".join(f"rank {r} (pid {ranks[r]} on {host})" for r in sorted(died))
            together = (" within one check of each other (one died first, the launcher then "
                        "killed the others)" if len(died) > 1 else "")
            with contextlib.suppress(OSError):  # the launcher may be gone already
                print(f"zili.distributed: {names} died{together}: killed by a signal or "
                      "exited without finishing; the other ranks are stopped",
                      file=sys.stderr, flush=True)
        for r in gone:
            pending.pop(r)


def main(argv: list[str]) -> int:
    """``watch.py FOLDER HOST RANK:PID ...``"""
    folder, host, *pairs = argv
    ranks = {int(r): int(p) for r, p in (pair.split(":") for pair in pairs)}
    return watch(folder, host, ranks)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
