"""What simulated contacts say back: whether they answer a message, and the answer. Pure functions of the
message and the instance's seeded dice."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from typing import Any

_QUESTION_ANSWERS = ("Good question! Let me check.", "Yes, that works for me 👍", "Not sure yet, tomorrow?")
_ACKS = ("Thanks, got it 👍", "Sounds good!", "Great, thank you!")
_PHOTO = "Here you go 📷"


@dataclass(frozen=True, slots=True)
class Reply:
    kind: str  # text or image
    text: str


def decide(params: dict[str, Any], rng: random.Random, reply_rate: float) -> Reply | None:
    """A reply to a business message, or None. Questions (`?` in the body) are always answered, others with
    probability `reply_rate`; asked for a photo or picture, the contact sends an image. One draw per message."""
    text = str(params.get("Body") or "")
    chance = rng.random()
    if "?" not in text and chance >= reply_rate:
        return None
    lowered = text.lower()
    if "photo" in lowered or "picture" in lowered:
        return Reply("image", _PHOTO)
    answers = _QUESTION_ANSWERS if "?" in text else _ACKS
    return Reply("text", answers[int(chance * 1000) % len(answers)])


def sample_png() -> bytes:
    """A small valid PNG (8x8, one colour), built here so no file ships with the package."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xf2\x2f\x46" * 8 for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
