"""multipart/related (RFC 2387) bodies as DICOMweb sends and receives them. Django-free."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field


class MultipartError(ValueError):
    """The body or its Content-Type is not well-formed multipart/related."""


@dataclass(frozen=True)
class MediaType:
    """A parsed Content-Type or Accept entry: ``type/subtype; name=value...`` (lower-case)."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)


def _split_params(text: str) -> list[str]:
    """Split on ``;`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def media_type_parse(value: str) -> MediaType:
    """``multipart/related; type="application/dicom"; boundary=x`` -> its parts."""
    head, *rest = _split_params(value)
    params = {}
    for item in rest:
        name, sep, raw = item.partition("=")
        if sep:
            params[name.strip().lower()] = raw.strip().strip('"')
    return MediaType(head.strip().lower(), params)


def accept_parse(value: str) -> list[MediaType]:
    """An Accept header as its media ranges (commas inside quotes are kept)."""
    entries: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            entries.append("".join(current))
            current = []
        else:
            current.append(char)
    entries.append("".join(current))
    return [media_type_parse(e) for e in entries if e.strip()]


@dataclass(frozen=True)
class Part:
    content_type: str  # lower-case media type of the part ("" when the part names none)
    body: bytes


def multipart_split(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body; raises ``MultipartError`` when it is not well-formed
    (no opening or closing delimiter, a part without its header/body separator)."""
    if not boundary or len(boundary) > 70:
        raise MultipartError("the boundary parameter is missing or longer than 70 characters")
    marker = b"--" + boundary.encode("latin-1")
    start = body.find(marker)
    if start < 0 or (start > 0 and body[start - 2 : start] != b"\r\n"):
        raise MultipartError("the body does not contain the boundary delimiter")
    delimiter = b"\r\n" + marker
    position = start + len(marker)
    parts = []
    while True:
        if body[position : position + 2] == b"--":
            break  # the close delimiter
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise MultipartError("the body ends inside a part (no closing delimiter)")
        next_delimiter = body.find(delimiter, line_end)
        if next_delimiter < 0:
            raise MultipartError("the body ends inside a part (no closing delimiter)")
        raw = body[line_end + 2 : next_delimiter]
        header_end = raw.find(b"\r\n\r\n")
        if raw.startswith(b"\r\n"):
            headers, content = b"", raw[2:]
        elif header_end >= 0:
            headers, content = raw[:header_end], raw[header_end + 4 :]
        else:
            raise MultipartError("a part has no blank line between its headers and its body")
        content_type = ""
        for line in headers.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-type":
                content_type = media_type_parse(value).media_type
        parts.append(Part(content_type, content))
        position = next_delimiter + len(delimiter)
    return parts


def multipart_join(parts: Sequence[tuple[str, bytes]]) -> tuple[bytes, str]:
    """``(content type, body)`` pairs as a multipart body; returns it and its boundary."""
    boundary = uuid.uuid4().hex
    chunks = []
    for content_type, body in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode())
        chunks.append(body)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), boundary
