"""One writer at a time: an advisory lock file beside the warehouse.

The lock is an ``fcntl.flock`` on ``<db>.lock``; the operating system releases it when
the holding process ends, however it ends, so a lock left by a killed run is stale by
construction and the next run takes it over (the file's contents, who held it and
since when, are only information for messages).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconcile.errors import WarehouseError


def lock_path(db: Path) -> Path:
    """The lock file of a warehouse."""
    return db.with_name(db.name + ".lock")


def holder(db: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock: pid, host, command, since; None if never."""
    try:
        data = json.loads(lock_path(db).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_locked(db: Path) -> bool:
    """Whether a process holds the writer lock right now."""
    path = lock_path(db)
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextmanager
def writer_lock(
    db: Path, *, command: str, timeout_seconds: float = 0.0, poll_seconds: float = 0.5
) -> Iterator[dict[str, Any]]:
    """Hold the writer lock of ``db`` for the duration of the block.

    Raises:
        WarehouseError: another process still holds it after ``timeout_seconds``; the
            message says which process and since when.
    """
    path = lock_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    other = holder(db) or {}
                    raise WarehouseError(
                        f"{db}: another {other.get('command', 'reconcile')} run holds the lock "
                        f"(pid {other.get('pid', '?')} on {other.get('host', '?')}, since "
                        f"{other.get('since', '?')})",
                        hint="wait for it, or raise --lock-timeout",
                    ) from None
                time.sleep(poll_seconds)
        previous = holder(db)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        if previous and previous.get("finished") is None and previous.get("pid") != os.getpid():
            info["took_over_from"] = previous  # the previous holder ended without finishing
        yield info
        info_done = {
            **{k: v for k, v in info.items() if k != "took_over_from"},
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info_done))
        handle.flush()
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
