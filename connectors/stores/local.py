"""Local folders as a store.

The "etag" of a local file is its size and modification time in nanoseconds, so an
unchanged file is recognised without reading it. Symbolic links are not followed:
a source folder cannot lead the tool to files outside it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from connectors.stores.base import ByteSink, ObjectInfo, UnreadableFoldersError
from reconcile.errors import StoreAccessError, StoreError, StoreNotFoundError


class LocalStore:
    """A folder on the local file system.

    Args:
        root: the folder; keys are paths relative to it.
    """

    scheme: ClassVar[str] = "file"
    default_workers: ClassVar[int] = 1

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if not self.root.exists():
            raise StoreNotFoundError(f"{root}: no such file or folder")
        if not self.root.is_dir():
            raise StoreError(f"{root}: not a folder")

    def describe(self) -> str:
        """The folder read."""
        return f"local folder {self.root}"

    def uri(self, key: str) -> str:
        """``file://`` URI of ``key``."""
        return (self.root / key).as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise StoreAccessError(f"{key}: key escapes the source folder {self.root}")
        return path

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Regular files under the root whose key starts with ``prefix``, in key order.

        Raises:
            StoreAccessError: the folder the listing starts at cannot be read.
            UnreadableFoldersError: after the last object, when folders below it could
                not be read: their files are missing from the listing, which is never
                silently passed off as complete.
        """
        unreadable: list[str] = []
        found = sorted(self._walk(prefix, unreadable), key=lambda info: info.key)
        yield from found
        if unreadable:
            unreadable.sort()
            raise UnreadableFoldersError(unreadable, [self.uri(k) for k in unreadable])

    def _entries(self, folder: Path) -> list[os.DirEntry[str]]:
        """The entries of one folder (one ``scandir``; raises ``OSError`` as it does)."""
        with os.scandir(folder) as entries:
            return list(entries)

    def _walk(self, prefix: str, unreadable: list[str]) -> Iterator[ObjectInfo]:
        # Start the walk at the deepest folder the prefix names, not at the root.
        head, _, _ = prefix.rpartition("/")
        start = self.root / head if head else self.root
        if head and not start.is_dir():
            return
        pending = [start]
        while pending:
            folder = pending.pop()
            folder_key = folder.relative_to(self.root).as_posix() if folder != self.root else ""
            try:
                entries = self._entries(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed (or replaced) while listing
            except PermissionError as exc:
                if folder == start:  # nothing at all can be listed: the whole source fails
                    raise StoreAccessError(
                        f"{self.uri(folder_key)}: permission denied: cannot list the folder",
                        hint="grant read and execute permission on it",
                    ) from exc
                unreadable.append(folder_key)
                continue
            except OSError as exc:
                raise StoreError(
                    f"{self.uri(folder_key)}: cannot list the folder: {exc.strerror or exc}"
                ) from exc
            for entry in entries:
                key = f"{folder_key}/{entry.name}" if folder_key else entry.name
                if entry.is_dir(follow_symlinks=False):
                    # Only folders that can hold keys starting with the prefix.
                    if f"{key}/".startswith(prefix) or prefix.startswith(f"{key}/"):
                        pending.append(folder / entry.name)
                    continue
                if not key.startswith(prefix) or not entry.is_file(follow_symlinks=False):
                    continue  # symbolic links, FIFOs, sockets: never followed or read
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing
                yield ObjectInfo(
                    key=key,
                    size=stat.st_size,
                    modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                    etag=f"{stat.st_size}-{stat.st_mtime_ns}",
                )

    def read_bytes(self, key: str) -> bytes:
        """Contents of the file ``key``."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreNotFoundError(f"{self.uri(key)}: no such file") from exc
        except PermissionError as exc:
            raise StoreAccessError(f"{self.uri(key)}: permission denied") from exc

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from offset ``start``."""
        path = self._path(key)
        try:
            with path.open("rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except FileNotFoundError as exc:
            raise StoreNotFoundError(f"{self.uri(key)}: no such file") from exc
        except PermissionError as exc:
            raise StoreAccessError(f"{self.uri(key)}: permission denied") from exc

    def local_path(self, key: str) -> Path | None:
        """The file itself: parsers read it in place."""
        path = self._path(key)
        if not path.is_file():
            raise StoreNotFoundError(f"{self.uri(key)}: no such file")
        return path

    def put_file(self, key: str, path: Path) -> None:
        """Copy ``path`` to ``key`` through a temporary name, then rename it into place."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            shutil.copyfile(path, partial)
            os.replace(partial, target)
        except PermissionError as exc:
            raise StoreAccessError(f"{self.uri(key)}: permission denied") from exc
        except OSError as exc:
            raise StoreError(f"{self.uri(key)}: cannot write: {exc.strerror or exc}") from exc

    def delete(self, key: str) -> None:
        """Remove the file (and folders left empty up to the root)."""
        target = self._path(key)
        target.unlink(missing_ok=True)
        parent = target.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def copy_to(self, key: str, handle: ByteSink) -> None:
        """Copy the file into ``handle``."""
        path = self._path(key)
        try:
            with path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
        except FileNotFoundError as exc:
            raise StoreNotFoundError(f"{self.uri(key)}: no such file") from exc
