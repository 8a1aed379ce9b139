"""What simulated contacts say back: whether they answer a message, and the answer itself.

Pure functions of the message and the instance's RNG, so a seeded run answers the same way each time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

_QUESTION_ANSWERS = (
    "Good question! Let me check and get back to you.",
    "Hmm, I think so, yes. Why do you ask?",
    "Not sure yet, can I tell you tomorrow?",
    "Yes, that works for me 👍",
)
_GREETING_ANSWERS = ("Hi! 👋 How can I help?", "Hello! Nice to hear from you 😊", "Hey there!")
_ACKS = ("Thanks, got it 👍", "Sounds good!", "Great, thank you!", "Perfect 🙌", "👍")
_TEMPLATE_ANSWERS = ("Thanks for the update!", "Got it, thanks for letting me know.")
_MEDIA_ANSWERS = ("Nice, thanks for sending this!", "Received, I'll have a look.")
_GREETINGS = ("hi", "hello", "hey", "hola", "olá", "bonjour", "good morning")
# Messages a person does not answer in words.
_SILENT_TYPES = frozenset({"reaction"})


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: a text, or an image with a caption when the business asked for a photo."""

    kind: str
    text: str


def text_of(message_type: str, payload: dict[str, Any]) -> str:
    """The words a person reads in a message, for deciding how to answer."""
    if message_type == "text":
        return str(payload.get("text", {}).get("body", ""))
    if message_type == "interactive":
        return str(payload.get("interactive", {}).get("body", {}).get("text", ""))
    if message_type in ("image", "video", "document"):
        return str(payload.get(message_type, {}).get("caption", ""))
    return ""


def decide(message_type: str, payload: dict[str, Any], rng: random.Random, reply_rate: float) -> Reply | None:
    """The reply a simulated contact gives to a business message, or None when they stay silent.

    Questions (a `?` anywhere in what they read) are always answered; other messages with probability
    `reply_rate`. The RNG is drawn exactly once per message so seeded runs stay aligned.
    """
    if message_type in _SILENT_TYPES:
        return None
    text = text_of(message_type, payload)
    chance = rng.random()
    if "?" not in text and chance >= reply_rate:
        return None
    lowered = text.lower()
    pick = rng.choice
    if "photo" in lowered or "picture" in lowered:
        return Reply("image", "Here you go 📷")
    if "?" in text:
        return Reply("text", pick(_QUESTION_ANSWERS))
    if any(lowered.startswith(word) for word in _GREETINGS):
        return Reply("text", pick(_GREETING_ANSWERS))
    if message_type == "template":
        return Reply("text", pick(_TEMPLATE_ANSWERS))
    if message_type in ("image", "video", "document", "audio", "sticker"):
        return Reply("text", pick(_MEDIA_ANSWERS))
    return Reply("text", pick(_ACKS))
