"""One writer at a time: an advisory lock file beside the warehouse.

The lock is an ``fcntl.flock`` on ``<db>.lock``; the operating system releases it when
the holding process ends, however it ends. The file records who holds it and, when the
block ends (ok or failed), ``finished`` and ``outcome``; a lock whose record has no
``finished`` was left by a holder that died (killed, crashed) and is reported as taken
over. The lock file is opened without following a symbolic link and must be a plain
file with one name, so a planted link cannot make a run overwrite another file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconcile.errors import UnsafePathError, WarehouseError


def lock_path(db: Path) -> Path:
    """The lock file of a warehouse."""
    return db.with_name(db.name + ".lock")


def _open(path: Path, *, create: bool) -> int:
    """A descriptor on the lock file, never through a link.

    Raises:
        UnsafePathError: the path is a symbolic link, not a plain file, or a hard link.
        WarehouseError: the file cannot be created or opened (a read-only folder).
        FileNotFoundError: it does not exist and ``create`` is false.
    """
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    if create:
        flags |= os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(
                f"{path}: the lock file is a symbolic link; refusing to follow it",
                hint="remove the link (reconcile creates the lock file itself)",
            ) from exc
        if isinstance(exc, FileNotFoundError) and not create:
            raise
        raise WarehouseError(
            f"{path}: cannot create the lock file: {exc.strerror}",
            hint="the warehouse folder must be writable",
        ) from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise UnsafePathError(
            f"{path}: the lock file is not a plain file of its own "
            f"({'a hard link' if stat.S_ISREG(info.st_mode) else 'a special file'}); "
            "refusing to write to it",
            hint="remove it (reconcile creates the lock file itself)",
        )
    return fd


def holder(db: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock: pid, host, command, since, and once it ended
    ``finished`` and ``outcome`` (ok|failed); None if never (or not readable safely)."""
    try:
        fd = os.open(lock_path(db), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return None
        raw = stream.read(65536)
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_locked(db: Path) -> bool:
    """Whether a process holds the writer lock right now."""
    path = lock_path(db)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also releases a lock taken just now
    return False


def _record(fd: int, info: dict[str, Any]) -> None:
    data = json.dumps(info).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


@contextmanager
def writer_lock(
    db: Path, *, command: str, timeout_seconds: float = 0.0, poll_seconds: float = 0.5
) -> Iterator[dict[str, Any]]:
    """Hold the writer lock of ``db`` for the duration of the block.

    On every way out of the block (normal end, a ``ReconcileError``, a bug, Ctrl-C) the
    record gets ``finished`` and ``outcome``; only a holder that died leaves none.

    Raises:
        WarehouseError: another process still holds it after ``timeout_seconds`` (the
            message says which process and since when), or the lock file cannot be
            created.
        UnsafePathError: ``<db>.lock`` is a symbolic link or not a plain file.
    """
    path = lock_path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"{path.parent}: cannot create the folder: {exc.strerror}") from exc
    fd = _open(path, create=True)
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    other = holder(db) or {}
                    raise WarehouseError(
                        f"{db}: `reconcile {other.get('command', '?')}` holds the lock "
                        f"(pid {other.get('pid', '?')} on {other.get('host', '?')}, since "
                        f"{other.get('since', '?')})",
                        hint="wait for it, or raise --lock-timeout",
                    ) from None
                time.sleep(poll_seconds)
        previous = holder(db)
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            _record(fd, info)
        except OSError as exc:
            raise WarehouseError(
                f"{path}: cannot write the lock file: {exc.strerror}",
                hint="free disk space and run again",
            ) from exc
        if previous and previous.get("finished") is None:
            info["took_over_from"] = previous  # the previous holder died without finishing
        outcome = "failed"
        try:
            yield info
            outcome = "ok"
        finally:
            done = {k: v for k, v in info.items() if k != "took_over_from"}
            done["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            done["outcome"] = outcome
            if outcome == "ok":
                try:
                    _record(fd, done)
                except OSError as exc:
                    raise WarehouseError(
                        f"{path}: cannot write the lock file: {exc.strerror}",
                        hint="free disk space; the run itself completed",
                    ) from exc
            else:
                # Best effort: the error that ended the block is the one to report.
                with contextlib.suppress(OSError):
                    _record(fd, done)
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
