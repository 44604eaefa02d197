"""A reconstruction file's bytes as lines of text, and the error that names one of them.

SWC and Vaa3D marker files are plain ASCII text. What a server may answer in
their place is not: an HTML page (an error page, a login or index page), a
gzip stream, binary data. ``file_text`` refuses those with a
``ReleaseFileFormatError`` that says what the bytes are; otherwise it gives
the text. ``lines_of`` numbers its lines from 1 as an editor does (a line
ends at ``\\n``, ``\\r\\n`` or ``\\r``, as pandas' parser ends them).
"""

from __future__ import annotations

import re

from ..errors import ReleaseFileFormatError, brief

_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
"""Bytes no text file holds (tab, line feed, vertical tab, form feed and carriage return are text)."""
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 2048
_LINE_END = re.compile(r"\r\n|\r|\n")


def file_text(data: bytes, source: str, format_name: str) -> str:
    """The text of ``data`` read from ``source``.

    ``ReleaseFileFormatError`` naming ``source`` where the bytes are not text
    (binary, gzip-compressed) or are an HTML or XML page, saying that
    ``format_name`` (``"an SWC file"``, ``"a Vaa3D marker file"``) was expected.
    Text that is not UTF-8 is read as Latin-1 (the numbers are ASCII either way;
    only comments could hold such characters).
    """
    if data.startswith(_GZIP_MAGIC):
        raise ReleaseFileFormatError(
            f"{source}: the bytes are gzip-compressed, not {format_name}: decompress them first (gunzip)"
        )
    if (control := _CONTROL.search(data)) is not None:
        raise ReleaseFileFormatError(
            f"{source}: the bytes are not text (byte {control.start()} is {data[control.start()]:#04x}), "
            f"so not {format_name}, which is plain text"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    start = text.lstrip()[:_SNIFF_BYTES]
    if start.startswith("<"):
        page = "an HTML page" if re.search(r"<(!doctype html|html|head|body)\b", start, re.IGNORECASE) else "markup"
        raise ReleaseFileFormatError(
            f"{source}: the bytes are {page} ({brief(start[:60])}), not {format_name}: "
            "the server answered a page where the file should be"
        )
    return text


def lines_of(text: str) -> list[str]:
    """The lines of ``text``, without their line ends; line ``n`` (from 1) is item ``n - 1``."""
    return _LINE_END.split(text)


def line_error(source: str, number: int, line: str, problem: str) -> ReleaseFileFormatError:
    """The error for line ``number`` (from 1) of ``source``: the line, briefly, and ``problem`` (what is wrong
    and what would be right)."""
    return ReleaseFileFormatError(f"{source}: line {number} {brief(line)}: {problem}")
