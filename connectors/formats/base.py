"""The parser contract and the unit of ingestion.

Most formats are one object per unit. Some are directory-shaped (a Hugging Face
checkpoint folder) or manifest-driven (billing exports): their parser groups the
listed objects into units and sees a whole unit at once. A unit is what the ingest
ledger records and what a re-delivery replaces.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import posixpath
import re
import shutil
import struct
import tempfile
import typing
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import pyarrow as pa

from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ConfigError, ParseError

#: What a parser returns: a table, or for large inputs a stream of record batches that
#: the engine inserts without holding the whole unit in memory.
Parsed: TypeAlias = pa.Table | pa.RecordBatchReader

#: Largest object a whole-object parser reads into memory. Bigger objects are
#: quarantined instead of taking the machine down.
MAX_OBJECT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Unit:
    """A group of objects ingested, recorded and replaced together.

    Attributes:
        uri: identity in the ledger (the object's URI, or the folder's for a folder unit).
        key: the unit's key in its store (object key, or folder prefix).
        members: the objects that make up the unit, in key order.
    """

    uri: str
    key: str
    members: tuple[ObjectInfo, ...]

    @property
    def size(self) -> int:
        """Total size of the members in bytes."""
        return sum(member.size for member in self.members)

    def fingerprint(self) -> str:
        """A version identifier computed from the listing alone (no download).

        One member: its etag. Several: a digest of every member's key, etag and size,
        so any added, removed or re-delivered member changes the unit's fingerprint.
        Keys are taken relative to the unit's own folder (the unit's key when it is a
        folder holding every member, else the deepest folder holding them all), never to
        the listing root: the same unit listed through two overlapping sources (a folder
        and its parent) has one fingerprint and is not replaced on every run.
        """
        if len(self.members) == 1 and self.members[0].etag:
            return self.members[0].etag
        folder = self.key.rstrip("/") + "/" if self.key.rstrip("/") else ""
        if not all(member.key.startswith(folder) for member in self.members):
            parents = [posixpath.dirname(member.key) for member in self.members]
            common = posixpath.commonpath(parents) if all(parents) else ""
            folder = common + "/" if common else ""
        digest = hashlib.sha256()
        for member in self.members:
            relative = member.key[len(folder) :]
            digest.update(f"{relative}\t{member.etag}\t{member.size}\n".encode())
        return "sha256:" + digest.hexdigest()

    def member(self, key: str) -> ObjectInfo:
        """The member with ``key``."""
        for info in self.members:
            if info.key == key:
                return info
        raise KeyError(key)


@dataclass
class UnitReader:
    """Reads the members of one unit from its store, hashing every byte read.

    The digest becomes the ledger's ``sha256``: evidence of exactly what was loaded.
    """

    store: Store
    unit: Unit
    bytes_read: int = 0
    #: sha256 (hex) of each member read whole: what ``sha256sum`` of that file prints
    file_sha256: dict[str, str] = field(default_factory=dict)
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _tmpdir: Path | None = None

    def uri(self, key: str) -> str:
        """URI of a member."""
        return self.store.uri(key)

    def read(self, key: str, *, limit: int = MAX_OBJECT_BYTES) -> bytes:
        """The whole member ``key``.

        Raises:
            ParseError: the member is larger than ``limit``.
        """
        info = self.unit.member(key)
        if info.size > limit:
            raise ParseError(
                self.uri(key), f"object is {info.size} bytes, over the {limit}-byte limit"
            )
        data = self.store.read_bytes(key)
        self._account(key, data)
        self.file_sha256[key] = hashlib.sha256(data).hexdigest()
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``start`` (a ranged GET on object stores)."""
        data = self.store.read_range(key, start, length)
        self._account(key, data)
        return data

    def path(self, key: str) -> Path:
        """A local file with the member's bytes, for readers that want a path (DuckDB,
        pyarrow). Local stores give the file itself; others stream it into a private
        temporary folder, removed by ``close()``. Memory stays bounded either way.
        """
        local = self.store.local_path(key)
        digest = hashlib.sha256()
        if local is not None:
            with local.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    self.bytes_read += len(chunk)
            self._digest.update(key.encode() + b"\0" + digest.digest())
            self.file_sha256[key] = digest.hexdigest()
            return local
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="reconcile-"))
        # The key is untrusted: the file name is derived from its hash, keeping only a
        # short, safe suffix so readers can still recognise ".parquet" or ".csv.gz".
        suffix = "".join(re.findall(r"\.[A-Za-z0-9]{1,8}", posixpath.basename(key))[-2:])
        target = self._tmpdir / (hashlib.sha256(key.encode()).hexdigest()[:16] + suffix)
        with target.open("wb") as handle:
            self.store.copy_to(key, _HashingWriter(handle, digest))
        self.bytes_read += target.stat().st_size
        self._digest.update(key.encode() + b"\0" + digest.digest())
        self.file_sha256[key] = digest.hexdigest()
        return target

    def close(self) -> None:
        """Remove temporary copies made by ``path()``."""
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _account(self, key: str, data: bytes) -> None:
        self.bytes_read += len(data)
        self._digest.update(key.encode() + b"\0")
        self._digest.update(hashlib.sha256(data).digest())

    @property
    def sha256(self) -> str:
        """The unit's digest: sha256 over, for every read in order, the member's key, a
        NUL byte and the sha256 of the bytes read (a ranged read hashes its range); each
        file read whole also has its own plain sha256 in ``file_sha256``."""
        return self._digest.hexdigest()


class Sample:
    """The start of an object, for content sniffing: one ranged read, made lazily.

    ``text()`` decompresses a gzip head; ``parquet_schema()`` reads only a Parquet
    file's footer (two more ranged reads).
    """

    HEAD_BYTES = 64 * 1024

    def __init__(self, store: Store, info: ObjectInfo) -> None:
        self.store = store
        self.info = info
        self.key = info.key
        self._head: bytes | None = None

    @property
    def head(self) -> bytes:
        """The first bytes of the object, as stored."""
        if self._head is None:
            self._head = self.store.read_range(self.key, 0, min(self.HEAD_BYTES, self.info.size))
        return self._head

    def text(self) -> str:
        """The head as text: gzip-decompressed when compressed, BOM removed."""
        raw = self.head
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, self.HEAD_BYTES * 4)
            except zlib.error:
                return ""
        return raw.decode("utf-8", errors="replace").removeprefix("\ufeff")

    def first_line(self) -> str:
        """The first non-empty line of ``text()``."""
        for line in self.text().splitlines():
            if line.strip():
                return line.strip()
        return ""

    def is_parquet(self) -> bool:
        """Whether the object starts with Parquet's magic bytes."""
        return self.head[:4] == b"PAR1"

    def parquet_schema(self) -> pa.Schema | None:
        """The Arrow schema of a Parquet object, from its footer alone."""
        if not self.is_parquet() or self.info.size < 12:
            return None
        import pyarrow.parquet as pq

        tail = self.store.read_range(self.key, self.info.size - 8, 8)
        (length,) = struct.unpack("<I", tail[:4])
        if tail[4:] != b"PAR1" or length + 12 > self.info.size:
            return None
        footer = self.store.read_range(self.key, self.info.size - 8 - length, length)
        try:
            return pq.read_schema(io.BytesIO(b"PAR1" + footer + tail))
        except (pa.ArrowException, OSError):
            return None


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, handle: typing.BinaryIO, digest: hashlib._Hash) -> None:
        self._handle = handle
        self._digest = digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._handle.write(data)


class Parser:
    """The base of every format.

    ``units`` claims the listed objects this format understands and groups them;
    ``parse_unit`` turns one unit into a table with exactly ``schema``, or raises
    ``ParseError``. It never returns a partial table.

    By default each object whose file name matches one of ``patterns`` (every object,
    with ``--format NAME``: see ``claims_forced``) is a unit of its own, parsed by
    ``parse(data, source=...)``; a format of folders or deliveries overrides ``units``
    (``group_units`` does the grouping) and ``parse_unit``.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    table: ClassVar[str]
    schema: ClassVar[pa.Schema]
    #: Keys this format takes in its ``[formats.NAME]`` table; any other is refused.
    OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: Shell globs on an object's file name that this format claims without sampling.
    patterns: ClassVar[tuple[str, ...]] = ()
    #: Name endings worth sampling for ``sniff`` (lowercase); empty: never sniffed.
    sniff_suffixes: ClassVar[tuple[str, ...]] = ()
    #: For training evidence: this format's rank per kind of field (``identity``,
    #: ``hardware``, ``training``, ``model``, ``model_id``), 1 first; when two formats
    #: describe one run, the better-ranked one's value wins (ingest writes the ranks to the
    #: warehouse's ``evidence_priority``, where resolution reads them).
    priority: ClassVar[Mapping[str, int]] = {}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        """Args:
        options: this format's table of the config file (``[formats.NAME]``),
            validated by ``check_options``.

        Raises:
            ConfigError: an unknown key or a bad value, naming ``formats.NAME.KEY``.
        """
        #: The configured options; their digest is recorded with every unit loaded, so
        #: changing them re-reads the units.
        self.options: dict[str, Any] = dict(options or {})
        self.check_options()

    def check_options(self) -> None:
        """Refuse keys not in ``OPTIONS``; a format with options extends this to check
        (and keep) their values.

        Raises:
            ConfigError: naming ``formats.NAME.KEY``.
        """
        for key in self.options:
            if key not in self.OPTIONS:
                hint = (
                    f"known: {', '.join(self.OPTIONS)}"
                    if self.OPTIONS
                    else "this format takes no options"
                )
                raise ConfigError(f"unknown key 'formats.{self.name}.{key}'", hint=hint)

    def sniff(self, sample: Sample) -> bool:
        """Recognise an object by content; formats that can, override this.

        Objects no parser claimed by name, whose name ends with one of the
        ``sniff_suffixes`` of some parser, are sampled (one ranged read) and offered to
        each sniffing parser in registry order; the first that says yes gets them.
        Objects already in the ledger unchanged are never sampled again.
        """
        return False

    def unit_for(self, store: Store, info: ObjectInfo) -> Unit:
        """The single-object unit of ``info``."""
        return Unit(uri=store.uri(info.key), key=info.key, members=(info,))

    def claims(self, key: str) -> bool:
        """Whether the object's file name matches one of ``patterns``."""
        name = posixpath.basename(key)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)

    def claims_forced(self, key: str) -> bool:
        """With ``--format NAME``: whether an object no unit holds is one of this
        format's (every object, unless a format narrows it)."""
        return True

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Split ``objects`` into units of this format and the objects left over.

        Args:
            forced: the user named this format; claim every object it could mean.
        """
        return self.single_units(store, objects, forced=forced)

    def single_units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """One unit per object that ``claims`` (or, when ``forced``, ``claims_forced``)."""
        units, rest = [], []
        for info in objects:
            if self.claims(info.key) or (forced and self.claims_forced(info.key)):
                units.append(self.unit_for(store, info))
            else:
                rest.append(info)
        return units, rest

    def group_units(
        self,
        store: Store,
        objects: Sequence[ObjectInfo],
        key_fn: Callable[[str], str | None],
        *,
        forced: bool,
        keep: Callable[[str, Sequence[ObjectInfo]], bool] | None = None,
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Units of several objects: those with the same ``key_fn(object key)`` (None:
        not this format's) form one unit with that key, in key order, members sorted.

        Args:
            keep: whether a group is a unit of this format (its objects stay in the
                rest otherwise); None keeps every group.
            forced: the objects left over then go through ``single_units``.
        """
        groups: dict[str, list[ObjectInfo]] = {}
        for info in objects:
            group = key_fn(info.key)
            if group is not None:
                groups.setdefault(group, []).append(info)
        units = [
            Unit(uri=store.uri(key), key=key, members=tuple(sorted(members)))
            for key, members in sorted(groups.items())
            if keep is None or keep(key, members)
        ]
        claimed = {member.key for unit in units for member in unit.members}
        rest = [info for info in objects if info.key not in claimed]
        singles, rest = self.single_units(store, rest, forced=forced)
        return units + singles, rest

    def parse_unit(self, reader: UnitReader) -> Parsed:
        """Read the single member and ``parse`` it."""
        (info,) = reader.unit.members
        return self.parse(reader.read(info.key), source=reader.unit.uri)

    def parse(self, data: bytes, *, source: str) -> pa.Table:
        """Parse one object's bytes (formats that keep the default ``parse_unit``)."""
        raise NotImplementedError
