"""ORM models: the one schema that Alembic migrations build on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

# Re-exported: the models' module is where code finds the schema, its base and its clock.
from wahub.store.account_models import Account as Account
from wahub.store.audience_models import ContactLabel as ContactLabel
from wahub.store.campaign_models import Campaign as Campaign
from wahub.store.campaign_models import CampaignRecipient as CampaignRecipient
from wahub.store.columns import Base as Base
from wahub.store.columns import JSONType as JSONType
from wahub.store.columns import UTCDateTime as UTCDateTime
from wahub.store.columns import utcnow as utcnow
from wahub.store.erasure_models import AuditRecord as AuditRecord
from wahub.store.erasure_models import ErasedMessage as ErasedMessage
from wahub.store.group_models import Group as Group
from wahub.store.history_models import HistorySync as HistorySync
from wahub.store.inbox_models import CannedReply as CannedReply
from wahub.store.outbox_models import IdempotencyKey as IdempotencyKey
from wahub.store.outbox_models import OutboxJob as OutboxJob
from wahub.store.outbox_models import Sender as Sender
from wahub.store.outbox_models import SendLease as SendLease
from wahub.store.report_models import Report as Report
from wahub.store.report_models import ReportRun as ReportRun
from wahub.store.schedule_models import Schedule as Schedule
from wahub.store.schedule_models import ScheduleFiring as ScheduleFiring
from wahub.store.stream_models import StreamBatch as StreamBatch
from wahub.store.stream_models import StreamCounter as StreamCounter
from wahub.store.template_models import TemplateSync as TemplateSync
from wahub.store.users_models import RefreshToken as RefreshToken
from wahub.store.users_models import User as User


class Contact(Base):
    """A WhatsApp user as seen by one account: by phone (``wa_id``), business-scoped ``user_id``, or both."""

    __tablename__ = "contacts"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "wa_id"),
        sa.UniqueConstraint("account_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    wa_id: Mapped[str | None] = mapped_column(sa.String(32))
    user_id: Mapped[str | None] = mapped_column(sa.String(128))
    profile_name: Mapped[str | None] = mapped_column(sa.String(256))
    # Numbers this contact had before a user_changed_number system message.
    previous_wa_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    # Marketing-message preference from user_preferences webhooks ("stop", "resume"...).
    marketing_preference: Mapped[str | None] = mapped_column(sa.String(32))
    marketing_preference_at: Mapped[datetime | None]
    # The name the business saved for them (a CSV import); ``profile_name`` is the one WhatsApp shows.
    saved_name: Mapped[str | None] = mapped_column(sa.String(256))
    # Custom attributes: a flat JSON object of strings, numbers and booleans (``store/audiences.py``).
    attributes: Mapped[dict[str, Any] | None]
    # Since when they opted out of marketing (campaigns skip them), and how: api, keyword or meta.
    opted_out_at: Mapped[datetime | None]
    opt_out_source: Mapped[str | None] = mapped_column(sa.String(16))
    # When the opt-out last changed either way: an older change (a late webhook) never overrides a newer one.
    opt_out_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """A contact × account thread; ``last_inbound_at`` opens the 24-hour customer-service window."""

    __tablename__ = "conversations"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "contact_id"),
        sa.Index("ix_conversations_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    last_inbound_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None] = mapped_column(index=True)
    unread_count: Mapped[int] = mapped_column(default=0)
    # open or resolved (``conversations.State``); a new inbound message reopens a resolved one.
    state: Mapped[str] = mapped_column(sa.String(16), default="open", server_default="open")
    # The user (agent) it is assigned to; agents see only theirs and the unassigned ones.
    assignee_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One message in or out, with its typed content in Meta's shape and a timestamp per status reached."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "wamid"),
        sa.Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        sa.Index("ix_messages_account_id_import_key", "account_id", "import_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(sa.ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(sa.String(8))
    type: Mapped[str] = mapped_column(sa.String(24))
    wamid: Mapped[str | None] = mapped_column(sa.String(256))
    status: Mapped[str] = mapped_column(sa.String(16))
    content: Mapped[dict[str, Any]]
    raw: Mapped[dict[str, Any] | None]
    reply_to_wamid: Mapped[str | None] = mapped_column(sa.String(256))
    # The wamid an edit, revoke or reaction acts on.
    target_wamid: Mapped[str | None] = mapped_column(sa.String(256))
    group_id: Mapped[str | None] = mapped_column(sa.String(128))
    media_id: Mapped[int | None] = mapped_column(sa.ForeignKey("media.id", ondelete="SET NULL"))
    # Reactions on this message: {contact key: emoji}; an un-reaction removes the key.
    reactions: Mapped[dict[str, Any] | None]
    # Earlier versions of the content, oldest first, when the sender edited or revoked the message.
    history: Mapped[list[Any] | None] = mapped_column(JSONType)
    edited_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # What it is found by (``search_text.indexed_text``; None: nothing); indexed by ``store/search.py``.
    search_text: Mapped[str | None] = mapped_column(sa.Text)
    error_code: Mapped[int | None]
    error_title: Mapped[str | None] = mapped_column(sa.Text)
    error_details: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    provider_timestamp: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    played_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    # An outbound message that may have reached Meta twice: its send was in flight when its worker died, or
    # timed out (Meta may have taken it), and it was sent again.
    possible_duplicate: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Who queued an outbound message: a signed-in user or a program's API key (neither: inbound, or wahub itself).
    # No ON DELETE (see migration 0014): users and keys are disabled or revoked, never deleted.
    sent_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    sent_by_api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id"))
    # Read from a chat export (``imports/chat_importer.py``), not received or sent through wahub; ``import_key``
    # (unique per account) is what makes importing the same export twice add nothing the second time.
    imported: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    import_key: Mapped[str | None] = mapped_column(sa.String(64))


class MessageWamid(Base):
    """Another wamid of an outbound message Meta accepted more than once (a sender lost its lease while the send
    was on the wire, and the next holder sent it again): statuses for either copy move the message."""

    __tablename__ = "message_wamids"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    wamid: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusRecord(Base):
    """Every status Meta reported, once: unique per message, status and recipient (a group's participant).
    ``message_id`` is empty while the message is unknown (the status overtook the send's result)."""

    __tablename__ = "message_statuses"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "wamid", "status", "recipient"),
        # The few statuses still waiting for their message, looked up for every batch of statuses.
        sa.Index(
            "ix_message_statuses_unattached",
            "account_id",
            "wamid",
            sqlite_where=sa.text("message_id IS NULL"),
            postgresql_where=sa.text("message_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    wamid: Mapped[str] = mapped_column(sa.String(256))
    status: Mapped[str] = mapped_column(sa.String(16))
    recipient: Mapped[str] = mapped_column(sa.String(128))
    timestamp: Mapped[datetime]
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    error_code: Mapped[int | None]
    error_title: Mapped[str | None] = mapped_column(sa.Text)
    error_details: Mapped[str | None] = mapped_column(sa.Text)
    pricing: Mapped[dict[str, Any] | None]
    conversation: Mapped[dict[str, Any] | None]
    raw: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Media(Base):
    """A media file a message refers to, by the provider's media id; fetched into storage by the media worker."""

    __tablename__ = "media"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "provider_media_id"),
        sa.Index("ix_media_state_run_at", "state", "run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    provider_media_id: Mapped[str] = mapped_column(sa.String(128))
    mime_type: Mapped[str | None] = mapped_column(sa.String(128))
    sha256: Mapped[str | None] = mapped_column(sa.String(128))
    filename: Mapped[str | None] = mapped_column(sa.String(512))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    state: Mapped[str] = mapped_column(sa.String(16))
    storage_key: Mapped[str | None] = mapped_column(sa.String(512))
    error: Mapped[str | None] = mapped_column(sa.Text)
    # A file uploaded to wahub to send: Meta's id for it once the sender uploaded it (Meta keeps uploads 30 days).
    upload_id: Mapped[str | None] = mapped_column(sa.String(128))
    uploaded_at: Mapped[datetime | None]
    # The media worker's bookkeeping: tries so far, when to try next, and its claim while it fetches.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    run_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountEvent(Base):
    """A webhook change about the account rather than a message (templates, quality, account updates,
    preferences, calls, fields not known yet), stored whole and once (``dedupe_key`` is its content's hash)."""

    __tablename__ = "account_events"
    __table_args__ = (sa.Index("ix_account_events_field_id", "field", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    waba_id: Mapped[str | None] = mapped_column(sa.String(64))
    phone_number_id: Mapped[str | None] = mapped_column(sa.String(64))
    field: Mapped[str] = mapped_column(sa.String(64))
    raw: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    occurred_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Template(Base):
    """A message template as Meta last described it (kept current by template webhooks and template sync)."""

    __tablename__ = "templates"
    __table_args__ = (sa.UniqueConstraint("waba_id", "name", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    waba_id: Mapped[str] = mapped_column(sa.String(64))
    provider_template_id: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(512))
    language: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str | None] = mapped_column(sa.String(32))
    category: Mapped[str | None] = mapped_column(sa.String(32))
    quality: Mapped[str | None] = mapped_column(sa.String(32))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    components: Mapped[list[Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """A webhook body exactly as received, stored before the 200 is sent; the processor works from here."""

    __tablename__ = "webhook_events"
    __table_args__ = (sa.Index("ix_webhook_events_processed_at_id", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # ``signature.key_id`` of the app secret that verified the body (None: journaled before wahub recorded it).
    signed_by: Mapped[str | None] = mapped_column(sa.String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    result: Mapped[str | None] = mapped_column(sa.Text)


class ApiKey(Base):
    """An API key for programs; only its SHA-256 is stored, the prefix identifies it in lists."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # What it may do, space-separated among "admin read send"; keys made before scopes have all three.
    scopes: Mapped[str] = mapped_column(sa.String(64), default="admin read send", server_default="admin read send")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class MetricCount(Base):
    """One Prometheus sample (a counter, or a histogram's bucket, sum or count) for one set of labels: every
    process adds to it (``store/counters.py``), so ``/metrics`` shows the work of all of them."""

    __tablename__ = "metric_counts"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    labels: Mapped[str] = mapped_column(sa.String(1000), primary_key=True)  # as written between the braces
    value: Mapped[float] = mapped_column(sa.Float)


class EntityLink(Base):
    """A message or a conversation linked to a thing of another system (an ERP's invoice, a CRM's deal), so it
    is found again by ``entity_type`` and ``entity_id``. Exactly one of ``message_id`` and ``conversation_id``."""

    __tablename__ = "entity_links"
    __table_args__ = (
        sa.UniqueConstraint("entity_type", "entity_id", "message_id"),
        sa.UniqueConstraint("entity_type", "entity_id", "conversation_id"),
        sa.CheckConstraint("(message_id IS NULL) <> (conversation_id IS NULL)", name="ck_entity_links_one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[str] = mapped_column(sa.String(128))
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSubscription(Base):
    """A program that wants wahub's events POSTed to it, signed with its own secret (stored encrypted)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    secret: Mapped[str] = mapped_column(sa.Text)  # encrypted (Vault)
    events: Mapped[list[str]] = mapped_column(JSONType)  # the event types it wants; empty: all of them
    description: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscriber: the durable queue of subscriber webhooks. Pending until the subscriber
    answers 2xx (delivered) or the attempts run out (failed); a replay makes it pending again."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_state_run_at", "state", "run_at"),
        sa.Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    run_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
