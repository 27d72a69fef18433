"""Bytes → text for exports written by Excel, Windows instruments and everything in between."""

from __future__ import annotations

import codecs


def decode(data: bytes) -> str:
    """Decode an export: BOM-marked UTF-8/UTF-16 first, UTF-16 without BOM by its zero bytes, then UTF-8,
    then cp1252 (every byte maps, so this never fails). Line endings are left as they are."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    head = data[:200]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4:
        return data.decode("utf-16-le", errors="replace")
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4:
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def split_lines(text: str) -> list[str]:
    """Lines without their endings, for CRLF, LF and bare CR files alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
