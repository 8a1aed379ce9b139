"""Settings of one faketwilio instance and the simulated people it talks for.

Plain data: the app copies it into its state, so `POST /_fake/config` never changes the caller's object.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SimulatedContact:
    """A WhatsApp user faketwilio plays: it receives messages, reads them and sometimes answers.

    `wa_id` is the number's E.164 digits without `+`, as Twilio's `WaId` parameter writes it; its address on
    the wire is `whatsapp:+<wa_id>`.
    """

    wa_id: str
    name: str


def default_contacts() -> list[SimulatedContact]:
    """The people a fresh Twilio sandbox can chat with."""
    return [
        SimulatedContact("14155550111", "Eva Lindqvist"),
        SimulatedContact("14155550112", "Femi Adeyemi"),
        SimulatedContact("14155550113", "Gabriela Ruiz"),
    ]


@dataclass(frozen=True, slots=True)
class ContentTemplate:
    """A Content API template (`HX…`) faketwilio knows: its body with `{{1}}`-style variables, and whether
    WhatsApp approved it (only approved ones may open a conversation outside the 24-hour window)."""

    sid: str
    name: str
    body: str
    approved: bool = True


def default_templates() -> list[ContentTemplate]:
    return [
        ContentTemplate("HX" + "1" * 32, "hello_world", "Hello {{1}}, this is a message from the sandbox."),
        ContentTemplate("HX" + "2" * 32, "order_update", "Your order {{1}} is {{2}}."),
        ContentTemplate("HX" + "3" * 32, "draft_promo", "Not approved yet: {{1}}", approved=False),
    ]


@dataclass(slots=True)
class FakeTwilioConfig:
    """How a faketwilio instance looks from outside (sids, sender, secrets) and how it behaves.

    Delays are realistic seconds divided by `speed`, so tests run the same story faster.
    """

    account_sid: str = "AC" + "0" * 31 + "1"
    auth_token: str = "faketwilio-auth-token"  # noqa: S105 - a well-known sandbox value, not a credential
    # API keys (`SK…` -> secret) that may authenticate REST calls instead of the auth token.
    api_keys: dict[str, str] = field(default_factory=dict)
    friendly_name: str = "faketwilio sandbox"
    sender: str = "whatsapp:+14155238886"
    messaging_service_sid: str | None = None
    # Where inbound messages are posted (wahub's /webhooks/twilio); statuses go to each message's StatusCallback.
    inbound_url: str | None = None
    # False: statuses are recorded but no callback is posted (a benchmark measures the sends alone).
    callbacks: bool = True
    contacts: list[SimulatedContact] = field(default_factory=default_contacts)
    templates: list[ContentTemplate] = field(default_factory=default_templates)
    speed: float = 1.0
    reply: bool = True
    reply_rate: float = 0.25
    seed: int | None = None
    # The base URL clients reach faketwilio at (inbound media URLs are built on it).
    public_url: str | None = None
    # WhatsApp refuses free-form messages 24 h after the user's last message: 63016 as a failed status.
    enforce_window: bool = False
    # Recipients that end as undelivered with 63024 (invalid recipient), and that opted out (21610 at once).
    unreachable_numbers: list[str] = field(default_factory=list)
    opted_out_numbers: list[str] = field(default_factory=list)
    webhook_max_attempts: int = 5
    webhook_timeout_s: float = 10.0
    log_limit: int = 10_000
    max_messages: int = 200_000
