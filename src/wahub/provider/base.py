"""The provider seam: what the worker asks of a messaging provider (Meta's Cloud API, or Twilio).

The worker sees only ``Provider``: it hands it an ``Outbound`` message in wahub's terms and gets back the
provider's id for it, or one of the domain errors of ``errors.py``, whose class says what to do:

    errors.ThroughputLimited    the number sends too fast: slow its send window
    errors.PairLimited          too many messages to one recipient: pace that recipient, retry later
    errors.RateLimited, errors.TransientProviderError    retry later (``worker/retry.py``)
    errors.OutcomeUnknown       retry later, and the message may arrive twice
    errors.AccessTokenInvalid   pause the account until its credentials are replaced
    errors.UploadLost           the provider lost a file uploaded earlier: upload it again and resend
    errors.PermanentProviderError                         the message fails

Building the provider's wire body, its error codes and its media handling stay in its own module
(``provider/meta.py``, ``provider/twilio.py``). A provider is bound to one account: ``Providers`` makes one
from an ``Account``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from wahub import errors


@dataclass(frozen=True, slots=True)
class Account:
    """What a provider needs of a wahub account to act for it."""

    provider: str  # "meta" or "twilio": which implementation takes it
    number: str  # the provider's id of the sending number (Meta's phone_number_id, Twilio's whatsapp:+E164)
    token: str  # the secret its API takes (Meta's access token, Twilio's auth token)
    # Twilio's: the Account SID, an API key (SID, secret) to call with instead of the auth token, the Messaging
    # Service sent through.
    account_sid: str | None = None
    api_key: tuple[str, str] | None = None
    messaging_service_sid: str | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a message goes to: a group, or a user by phone number (``wa_id``) or business-scoped user id."""

    group_id: str | None = None
    wa_id: str | None = None
    user_id: str | None = None

    @property
    def key(self) -> str:
        """The one id the message is addressed to ("" when there is none): what pacing per recipient counts."""
        return self.group_id or self.wa_id or self.user_id or ""


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to send, as wahub stores it: its type and content (as the API took it), its recipient and the
    provider's id of the message it answers. A file uploaded to wahub is named by ``wahub_media_id`` in the
    content; the sender uploads it to the provider first and gives the provider's id as ``upload_id``."""

    recipient: Recipient
    type: str
    content: Mapping[str, Any]
    reply_to: str | None = None
    upload_id: str | None = None
    # wahub's reference for the message (``domain.send_reference``), asked back in its statuses where the provider
    # can echo one and the content carries no callback data of the client's.
    reference: str | None = None

    @property
    def wahub_media_id(self) -> int | None:
        """The id of the file uploaded to wahub that this message sends, if any."""
        obj = self.content.get(self.type)
        value = obj.get("wahub_media_id") if isinstance(obj, Mapping) else None
        return int(value) if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class Sent:
    """The provider took the message: its id for it (Meta's wamid), which its status updates will name."""

    id: str


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the provider says of an inbound medium; ``url`` is short-lived and needs the account's token."""

    url: str
    mime_type: str | None
    sha256: str | None  # hex
    file_size: int | None
    # Whether the provider states a file's SHA-256 (Meta does: a medium without one cannot be verified). Twilio
    # does not: its files are hashed as they are downloaded, and checked against the length the server gave.
    hashed: bool = True


class Provider(Protocol):
    """One account's messaging provider. Every method raises ``errors.ProviderError`` subclasses only."""

    @property
    def keeps_uploads(self) -> timedelta:
        """How long an uploaded file may be named by messages before it must be uploaded again."""
        ...

    @property
    def uploads_files(self) -> bool:
        """Whether a file uploaded to wahub is uploaded to the provider before a message names it (Meta); if
        not, the provider fetches it from a signed link of wahub's own (Twilio)."""
        ...

    async def send(self, message: Outbound) -> Sent:
        """Send a message; returns the provider's id for it."""
        ...

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Mark an inbound message read, with a typing indicator if asked."""
        ...

    async def upload(self, chunks: AsyncIterator[bytes], mime_type: str, filename: str) -> str:
        """Upload a file for messages to name; returns the provider's id for it (``Outbound.upload_id``)."""
        ...

    async def media_info(self, media_id: str) -> MediaInfo:
        """Where to download an inbound medium and what the provider knows of it."""
        ...

    def download(self, url: str) -> AsyncIterator[bytes]:
        """Stream the bytes behind a ``MediaInfo.url``."""
        ...

    async def check_account(self) -> dict[str, Any]:
        """What the provider says of the account's number; proves the credentials act for it."""
        ...


Providers = Callable[[Account], Provider]


def by_provider(factories: Mapping[str, Providers]) -> Providers:
    """One ``Providers`` over several implementations, chosen by ``Account.provider``: what the composition
    root gives the worker (``{"meta": meta.providers(graph)}``, and Twilio's beside it)."""

    def provider(account: Account) -> Provider:
        factory = factories.get(account.provider)
        if factory is None:
            raise errors.PermanentProviderError(f"wahub cannot send through the provider {account.provider!r}")
        return factory(account)

    return provider


def hex_sha256(value: str | None) -> str | None:
    """A SHA-256 as a provider writes it, hex (Meta's media API) or base64 (Meta's webhooks), in lower-case hex;
    None if it is neither."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
