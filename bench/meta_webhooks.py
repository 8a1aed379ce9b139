"""Signed, realistic Meta webhooks for benchmarks: the shapes of Meta's Cloud API (as in
tests/data/meta-webhooks/), written ahead of time to files that wrk's Lua script reads, so the load generator
spends nothing on JSON or HMAC.

A corpus is ~75% status webhooks (sent, delivered, read for outbound messages whose wamids the corpus lists, so a
bench can seed them) and ~25% inbound text messages from a few hundred contacts. Every inbound wamid and every
(wamid, status) pair is unique, so a processor really stores each event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PHONE_NUMBER_ID = "1122334455667"
WABA_ID = "1234567890987654321"
APP_SECRET = "bench-app-secret"  # the bench's own throwaway account
DISPLAY_NUMBER = "15550001234"
CONTACTS = 300
STATUS_SPREAD = 50  # "delivered" comes this many webhooks-of-4 after "sent", "read" as many after that


def _template(skeleton: dict[str, Any]) -> str:
    """Compact JSON with ``@name@`` string placeholders turned into %-format fields; ``@@name@@`` ones are
    filled with already-encoded JSON (for free text), the rest are pasted inside their quotes."""
    text = json.dumps(skeleton, separators=(",", ":")).replace("%", "%%")
    while '"@@' in text:
        start = text.index('"@@')
        end = text.index('@@"', start + 3)
        text = f"{text[:start]}%({text[start + 3 : end]})s{text[end + 3 :]}"
    while '"@' in text:
        start = text.index('"@')
        end = text.index('@"', start + 2)
        text = f'{text[:start]}"%({text[start + 2 : end]})s"{text[end + 2 :]}'
    return text


def _value(**fields: Any) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": "@@name@@"}, "wa_id": "@wa_id@", "user_id": "@user_id@"}],
                            **fields,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


INBOUND = _template(
    _value(
        messages=[
            {"from": "@wa_id@", "id": "@wamid@", "timestamp": "@ts@", "text": {"body": "@@text@@"}, "type": "text"}
        ]
    )
)
STATUS = _template(
    _value(
        statuses=[
            {
                "id": "@wamid@",
                "status": "@status@",
                "timestamp": "@ts@",
                "recipient_id": "@wa_id@",
                "conversation": {"id": "@conversation@", "origin": {"type": "service"}},
                "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
            }
        ]
    )
)
TEXTS = [
    "Hi! Is my order #{n} on its way?",
    "Thanks, received 👍",
    "Can I change the delivery address to Rua das Flores 12, Lisboa?",
    "What are your opening hours on Saturday?",
    "Preciso de ajuda com a fatura {n}",
    "ok",
    "Do you have the blue one in size M?",
    "I'd like to cancel my appointment tomorrow at 10:30",
    "¿Aceptan pagos con tarjeta?",
    "Merci beaucoup, à bientôt !",
    "The link you sent doesn't open on my phone, can you resend it?",
    "Yes",
]
NAMES = ["Ana", "Bruno", "Chloé", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro", "Inês", "José", "Kavya", "Liam"]


@dataclass(frozen=True, slots=True)
class Contact:
    wa_id: str
    user_id: str
    name: str


def contacts() -> list[Contact]:
    return [
        Contact(f"1555{2000000 + k * 37:07d}", f"US.{1349120865530274 + k * 7919}", f"{NAMES[k % len(NAMES)]} {k}")
        for k in range(CONTACTS)
    ]


@dataclass(slots=True)
class Corpus:
    """Signed bodies for one run, one file per wrk thread, and the outbound messages its statuses refer to."""

    tag: str
    events: int
    prefix: str
    outbound: list[tuple[str, int]] = field(default_factory=list)  # (wamid, contact index)


def _wamid(nonce: str, kind: str, n: int, wa_id: str) -> str:
    # Shaped like Meta's (base64 of a binary record naming the recipient); unique per bench run and event.
    raw = b"\x18\x0b" + wa_id.encode() + b"\x15\x02\x00\x12\x18\x14" + f"{nonce}{kind}{n:011X}".encode()
    return "wamid." + base64.b64encode(raw).decode()


def write_corpus(directory: Path, tag: str, events: int, threads: int, nonce: str) -> Corpus:
    """~75% status webhooks (sent, delivered, read for each outbound message), ~25% inbound texts from a few
    hundred contacts; every inbound wamid unique, every (wamid, status) pair unique."""
    people = contacts()
    key = APP_SECRET.encode()
    corpus = Corpus(tag, events, str(directory / f"{tag}-"))
    outbound_count = math.ceil(events / 4)
    for j in range(outbound_count):
        who = (j * 13) % CONTACTS
        corpus.outbound.append((_wamid(nonce, f"{tag}O", j, people[who].wa_id), who))
    files = [open(f"{corpus.prefix}{t}.txt", "w", encoding="ascii") for t in range(threads)]  # noqa: SIM115
    base_ts = int(time.time()) - 3600
    try:
        for i in range(events):
            block, slot = divmod(i, 4)
            ts = str(base_ts + i // 100)
            if slot == 0:
                person = people[(block * 7) % CONTACTS]
                text = TEXTS[block % len(TEXTS)].format(n=100000 + block)
                fields = {"wamid": _wamid(nonce, f"{tag}I", block, person.wa_id), "text": json.dumps(text)}
                body = INBOUND % {**fields, "ts": ts, **_person(person)}
            else:
                j = (block - (slot - 1) * STATUS_SPREAD) % outbound_count
                wamid, who = corpus.outbound[j]
                status = ("sent", "delivered", "read")[slot - 1]
                conversation = hashlib.md5(f"{nonce}{who}".encode()).hexdigest()[:30]
                fields = {"wamid": wamid, "status": status, "conversation": conversation}
                body = STATUS % {**fields, "ts": ts, **_person(people[who])}
            raw = body.encode()
            signature = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
            files[i % threads].write(f"{signature}\t{body}\n")
    finally:
        for f in files:
            f.close()
    return corpus


def _person(person: Contact) -> dict[str, str]:
    return {"wa_id": person.wa_id, "user_id": person.user_id, "name": json.dumps(person.name)}
