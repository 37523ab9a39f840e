"""Reading a text object within bounds: gzip decompressed in chunks (a gzip bomb stops
at ``MAX_TEXT_BYTES``), no line longer than ``MAX_LINE_BYTES`` (one enormous line is
refused, not split or held several times over), UTF-8 with an optional BOM.

Used by the formats that read a whole text object into memory (Slurm ``sacct`` dumps,
run tables); formats read by DuckDB rely on its own per-line and memory limits.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from reconcile.errors import ParseError

#: Most bytes a compressed text object may expand to (the cap whole-object reads have).
MAX_TEXT_BYTES = 512 * 1024 * 1024
#: Longest line a line-oriented text format may have: far above any real sacct or
#: nvidia-smi line, far below what would exhaust memory.
MAX_LINE_BYTES = 1024 * 1024


def read_text(
    data: bytes,
    source: str,
    *,
    max_bytes: int = MAX_TEXT_BYTES,
    max_line: int = MAX_LINE_BYTES,
) -> str:
    """A text object's bytes as text: gunzipped when compressed (never past
    ``max_bytes``), UTF-8 with an optional BOM, no line longer than ``max_line``.

    Raises:
        ParseError: corrupt gzip data, too large once decompressed (a gzip bomb), a line
            too long, or not UTF-8.
    """
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, source, max_bytes=max_bytes, max_line=max_line)
    else:
        _check_lines(data, source, max_line)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ParseError(source, f"not UTF-8 text (byte {exc.start})") from exc


def _check_lines(data: bytes, source: str, max_line: int) -> None:
    """ParseError when a line is at least ``2 × max_line`` long (one find per window of
    ``max_line`` bytes: a window without a newline lies inside a line that long)."""
    for start in range(0, len(data) - max_line + 1, max_line):
        if data.find(b"\n", start, start + max_line) < 0:
            raise ParseError(
                source,
                f"a line longer than {max_line:,} bytes: not a line-oriented text file",
                f"byte {start}",
            )


def _gunzip(data: bytes, source: str, *, max_bytes: int, max_line: int) -> bytes:
    """Decompress (every member of) a gzip stream, within ``max_bytes`` and with no line
    longer than ``max_line``, without ever holding more than that."""
    out: list[bytes] = []
    total = since_newline = 0
    pending = data
    while pending:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while pending:
            try:
                piece = decompressor.decompress(pending, 1 << 20)
            except zlib.error as exc:
                raise ParseError(source, f"corrupt gzip data: {exc}") from exc
            pending = decompressor.unconsumed_tail
            total += len(piece)
            if total > max_bytes:
                raise ParseError(
                    source, f"decompresses to more than {max_bytes:,} bytes (a gzip bomb?)"
                )
            newline = piece.rfind(b"\n")
            since_newline = since_newline + len(piece) if newline < 0 else len(piece) - newline - 1
            if since_newline > max_line:
                raise ParseError(
                    source,
                    f"a line longer than {max_line:,} bytes once decompressed: "
                    "not a line-oriented text file",
                )
            out.append(piece)
            if decompressor.eof:
                break
            if not piece and not pending:
                break
        if not decompressor.eof:
            raise ParseError(source, "corrupt gzip data: truncated stream")
        # Concatenated gzip members (``cat a.gz b.gz``) are one stream.
        pending = decompressor.unused_data.lstrip(b"\0")
    return b"".join(out)


#: Bytes (after decompression) of a file checked by ``check_head_lines``.
HEAD_CHECK_BYTES = 64 * 1024 * 1024


def check_head_lines(
    path: Path,
    source: str,
    *,
    compressed: bool,
    max_line: int = MAX_LINE_BYTES,
    head_bytes: int = HEAD_CHECK_BYTES,
) -> None:
    """Refuse a line-oriented file whose first ``head_bytes`` hold a line longer than
    ``max_line``, before DuckDB reads it: DuckDB scans a whole enormous line (a gzip bomb
    of zeros is one gigabyte-long line) before dropping it. Reads at most about
    ``head_bytes`` of (decompressed) data, one MiB at a time.

    Raises:
        ParseError: a line too long, or corrupt gzip data.
    """
    seen = since_newline = 0
    with path.open("rb") as handle:
        for piece in _pieces(handle, source, compressed):
            newline = piece.rfind(b"\n")
            since_newline = since_newline + len(piece) if newline < 0 else len(piece) - newline - 1
            if since_newline > max_line:
                raise ParseError(
                    source,
                    f"a line longer than {max_line:,} bytes"
                    + (" once decompressed" if compressed else "")
                    + ": not a line-oriented text file",
                )
            seen += len(piece)
            if seen >= head_bytes:
                return


def _pieces(handle: BinaryIO, source: str, compressed: bool) -> Iterator[bytes]:
    """The file's bytes, decompressed when ``compressed`` (every gzip member), in pieces
    of at most 1 MiB."""
    if not compressed:
        while chunk := handle.read(1 << 20):
            yield chunk
        return
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    while True:
        if not pending:
            pending = handle.read(1 << 20)
            if not pending:
                return  # the end (a truncated stream is DuckDB's to report)
        try:
            piece = decompressor.decompress(pending, 1 << 20)
        except zlib.error as exc:
            raise ParseError(source, f"corrupt gzip data: {exc}") from exc
        pending = decompressor.unconsumed_tail
        if decompressor.eof:  # another gzip member may follow
            pending = decompressor.unused_data.lstrip(b"\0")
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        yield piece
