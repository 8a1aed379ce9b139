"""Request and response bodies of the REST API, in Meta's own shapes where Meta has one, one module per resource:
``send`` (with ``content`` and ``interactive``) is the body of a send; ``messages``, ``conversations``, ``media``,
``events`` and ``subscriptions`` are the answers, read from the rows with pydantic's ``from_attributes``. The
routes name them all as ``schemas.X``."""

from wahub.api.schemas.canned_replies import CannedReplyIn, CannedReplyOut, CannedReplyPatch
from wahub.api.schemas.common import (
    ENTITY_ID,
    ENTITY_TYPE,
    ContactRefOut,
    EntityRef,
    ErrorBody,
    ErrorDetail,
    ErrorOut,
    Id,
)
from wahub.api.schemas.contacts import ContactErased, ContactLabelsIn, ContactOut, ContactPage, ContactPatch
from wahub.api.schemas.conversations import (
    AssignIn,
    ConversationOut,
    ConversationPage,
    UserRefOut,
)
from wahub.api.schemas.events import ErrorCountOut, EventOut, EventPage, OutboundStatsOut, StatsOut
from wahub.api.schemas.media import MediaOut
from wahub.api.schemas.messages import MessageOut, MessagePage, SentByOut, StatusOut, sender_names
from wahub.api.schemas.send import SendMessage
from wahub.api.schemas.subscriptions import (
    FAILED_STATE,
    DeliveryOut,
    DeliveryPage,
    DeliveryState,
    ReplayIn,
    ReplayOut,
    SubscriptionIn,
    SubscriptionOut,
)
from wahub.api.schemas.users import LoginIn, MeOut, SessionOut, UserCreated, UserIn, UserOut

__all__ = [
    "ENTITY_ID",
    "ENTITY_TYPE",
    "FAILED_STATE",
    "AssignIn",
    "CannedReplyIn",
    "CannedReplyOut",
    "CannedReplyPatch",
    "ContactErased",
    "ContactLabelsIn",
    "ContactOut",
    "ContactPage",
    "ContactPatch",
    "ContactRefOut",
    "ConversationOut",
    "ConversationPage",
    "DeliveryOut",
    "DeliveryPage",
    "DeliveryState",
    "EntityRef",
    "ErrorBody",
    "ErrorCountOut",
    "ErrorDetail",
    "ErrorOut",
    "EventOut",
    "EventPage",
    "Id",
    "LoginIn",
    "MeOut",
    "MediaOut",
    "MessageOut",
    "MessagePage",
    "OutboundStatsOut",
    "ReplayIn",
    "ReplayOut",
    "SendMessage",
    "SentByOut",
    "SessionOut",
    "StatsOut",
    "StatusOut",
    "SubscriptionIn",
    "SubscriptionOut",
    "UserCreated",
    "UserIn",
    "UserOut",
    "UserRefOut",
    "sender_names",
]
