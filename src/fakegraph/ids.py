"""Identifiers shaped like Meta's: wamids, media ids, fbtrace ids, cursors.

Ids come from `secrets`, never from the seeded RNG: two fakegraph runs with the same seed must not
hand out the same wamid to a database that outlives them.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time


def new_wamid(recipient: str) -> str:
    """A message id like `wamid.HBgLMTU1NTEyMzAwMDEVAgARGBI…`.

    Meta's wamid is base64 of a small protobuf holding the recipient's number and a random key; we
    build the same layout so ids look and sort like real ones.
    """
    digits = "".join(ch for ch in recipient if ch.isdigit()).encode() or b"0"
    key = secrets.token_hex(9).upper().encode()
    raw = b"\x1c\x18" + bytes([len(digits) & 0xFF]) + digits + b"\x15\x02\x00\x11\x18\x12" + key + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


def new_media_id() -> str:
    """A numeric media id of 16 digits, like the ids Meta returns from `POST /media`."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def new_object_id() -> str:
    """A numeric Graph object id of 15 digits (templates, conversations' owners...)."""
    return str(secrets.randbelow(9 * 10**14) + 10**14)


def new_fbtrace_id() -> str:
    """A trace id like `AXsgnV2Cm3ZMGF3dF_cfYIn`: `A` and 22 url-safe base64 characters."""
    return "A" + base64.urlsafe_b64encode(secrets.token_bytes(17)).decode()[:22]


def new_conversation_id() -> str:
    """A conversation id as Meta puts in status webhooks: 32 hex characters."""
    return secrets.token_hex(16)


def unix_now() -> int:
    """Seconds since the epoch, the unit of every timestamp in Meta's webhooks."""
    return int(time.time())


def encode_cursor(index: int) -> str:
    """A paging cursor the way Graph writes them: base64 with `=` spelled `ZD` (`0` -> `MAZDZD`)."""
    return base64.b64encode(str(index).encode()).decode().replace("=", "ZD")


def decode_cursor(cursor: str) -> int | None:
    """The index behind a cursor from `encode_cursor`, or None when it is not one of ours."""
    try:
        return int(base64.b64decode(cursor.replace("ZD", "=").encode(), validate=True).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
