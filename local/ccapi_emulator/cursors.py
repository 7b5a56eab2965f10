"""NextToken of ListResourceRequests: an opaque key cursor, or an offset (``cursor`` mode)."""

from __future__ import annotations

import base64
import binascii

from ccapi_emulator import errors


def encode_cursor(key: tuple[float, int]) -> str:
    """An opaque cursor: the key of the last request listed (``cursor="opaque"``)."""
    return base64.b64encode(f"{key[0]!r}:{key[1]}".encode()).decode()


def decode_cursor(token: str) -> tuple[float, int]:
    try:
        created, seq = base64.b64decode(token, validate=True).decode().split(":")
        return float(created), int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.ApiError("ValidationException", "Invalid NextToken") from None


_OFFSET_PREFIX = "offset:"


def encode_offset(offset: int) -> str:
    """A positional cursor: an offset into the filtered list (``cursor="positional"``)."""
    return base64.b64encode(f"{_OFFSET_PREFIX}{offset}".encode()).decode()


def decode_offset(token: str) -> int:
    try:
        text = base64.b64decode(token, validate=True).decode()
        if not text.startswith(_OFFSET_PREFIX):
            raise ValueError(text)
        offset = int(text.removeprefix(_OFFSET_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.ApiError("ValidationException", "Invalid NextToken") from None
    if offset < 0:
        raise errors.ApiError("ValidationException", "Invalid NextToken")
    return offset
