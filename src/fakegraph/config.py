"""Settings of one fakegraph instance and the simulated people it talks for.

Everything here is plain data: the app copies what can change at runtime (callback URL, app secret,
speed...) into its state, so `POST /_fake/config` never mutates the caller's object behind its back.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SimulatedContact:
    """A WhatsApp user that fakegraph plays: it receives messages, reads them and sometimes answers.

    `wa_id` is the phone number in E.164 digits without `+`, as Meta writes it in webhooks.
    `user_id` is the business-scoped user id Meta adds to contacts since 2026 (`US.…`), or None.
    """

    wa_id: str
    name: str
    user_id: str | None = None


def default_contacts() -> list[SimulatedContact]:
    """The friendly people a fresh sandbox can chat with."""
    return [
        SimulatedContact("14155550101", "Ana Souza", "US.1000000000000000001"),
        SimulatedContact("14155550102", "Ben Okafor", "US.1000000000000000002"),
        SimulatedContact("14155550103", "Chloé Martin", "US.1000000000000000003"),
        SimulatedContact("14155550104", "Dev Patel", "US.1000000000000000004"),
    ]


@dataclass(slots=True)
class FakeGraphConfig:
    """How a fakegraph instance looks from outside (ids, numbers, secrets) and how it behaves.

    Delays are realistic seconds divided by `speed`, so tests run the same story 20x faster.
    """

    callback_url: str | None = None
    app_secret: str = "fakegraph-app-secret"  # noqa: S105 - a well-known sandbox value, not a credential
    access_token: str | None = None
    phone_number_id: str = "100000000000001"
    # Further numbers of the same WABA that take sends (as `phone_number_id` does), for a sender with several
    # numbers (bench/send.py --numbers); the Graph objects fakegraph plays are still those of `phone_number_id`.
    more_phone_number_ids: list[str] = field(default_factory=list)
    display_phone_number: str = "15550000001"
    verified_name: str = "Fakegraph Sandbox"
    waba_id: str = "200000000000001"
    # The Meta app's id: `client_id` of `GET /oauth/access_token` (its secret is `app_secret`) and `app_id` of
    # `GET /debug_token`.
    app_id: str = "300000000000001"
    contacts: list[SimulatedContact] = field(default_factory=default_contacts)
    speed: float = 1.0
    reply: bool = True
    # Share of messages without "?" that still get an answer; questions are always answered.
    reply_rate: float = 0.25
    seed: int | None = None
    public_url: str | None = None
    # Meta refuses free-form messages 24 h after the user's last message (131047, as a failed status).
    # Off by default so a fresh sandbox can greet its simulated contacts.
    enforce_window: bool = False
    # Recipients whose messages end as failed with 131026 (undeliverable), for demos of errors.
    unreachable_numbers: list[str] = field(default_factory=list)
    # Meta answers unknown template names with 132001; turn off to accept any template.
    strict_templates: bool = True
    # Groups a number may have at once (Meta answers 131211 past its limit).
    max_groups: int = 10_000
    # Meta may put several statuses in one webhook; >1 batches up to this many statuses that fall due
    # within `webhook_batch_window_ms` (saves the receiver and fakegraph one POST per status under load).
    webhook_batch_max: int = 1
    webhook_batch_window_ms: float = 20.0
    webhook_max_attempts: int = 5
    webhook_timeout_s: float = 10.0
    # Bounds the in-memory logs so a long benchmark cannot eat the machine.
    log_limit: int = 10_000
    max_messages: int = 200_000
    # A standalone fakegraph (`python -m fakegraph`) moves what it has stored out of the garbage collector's
    # reach every second, so full collections do not stall it (see app._freeze_gc_every_second).
    freeze_gc: bool = False
