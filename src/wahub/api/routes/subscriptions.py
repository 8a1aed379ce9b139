"""``/api/v1/webhooks``: programs subscribe to wahub's events (subscriber webhooks), see what was delivered to
them, and have deliveries sent again."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query, Response

from wahub.api import schemas
from wahub.api.context import AppContext
from wahub.api.deps import Admin, Ctx, ReadSession
from wahub.store import db, paging, subscriber_webhooks
from wahub.store.models import WebhookDelivery
from wahub.wakeups import Channel

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post(
    "",
    status_code=201,
    response_model=schemas.SubscriptionOut,
    responses={409: {"description": f"there are {subscriber_webhooks.MAX_SUBSCRIPTIONS} subscriptions already"}},
)
async def subscribe(body: schemas.SubscriptionIn, ctx: Ctx, _key: Admin) -> schemas.SubscriptionOut:
    """Have wahub POST its events to ``url``: ``message.received`` (a new inbound message) and
    ``message.status`` (a message accepted by Meta, sent, delivered, read, played or failed) and
    ``account.event`` (template status, quality, account updates and the like, as Meta sent them). The answer holds
    the subscription's ``secret``, once: check each request's ``X-Wahub-Signature-256`` with it. A request that
    does not get a 2xx answer within 10 s is tried again with backoff, for about 12 hours; redirects are not
    followed, and of a failed try only the status is kept, never the answer. At most 20 subscriptions (409)."""
    secret = subscriber_webhooks.new_secret()
    async with db.transaction(ctx.sessions) as session:
        row = await subscriber_webhooks.subscribe(
            session,
            body.url,
            list(dict.fromkeys(body.events)),
            body.description,
            subscriber_webhooks.seal(ctx.vault, secret),
        )
        return schemas.SubscriptionOut.of(row, secret)


@router.get("", response_model=list[schemas.SubscriptionOut])
async def list_subscriptions(session: ReadSession, _key: Admin) -> list[schemas.SubscriptionOut]:
    return [schemas.SubscriptionOut.of(row) for row in await subscriber_webhooks.subscriptions(session)]


@router.get("/{subscription_id}", response_model=schemas.SubscriptionOut)
async def get_subscription(subscription_id: schemas.Id, session: ReadSession, _key: Admin) -> schemas.SubscriptionOut:
    return schemas.SubscriptionOut.of(await subscriber_webhooks.subscription(session, subscription_id))


@router.delete("/{subscription_id}", status_code=204, response_class=Response)
async def unsubscribe(subscription_id: schemas.Id, ctx: Ctx, _key: Admin) -> Response:
    """Stop sending events to this subscriber; its deliveries, sent or not, are deleted."""
    async with db.transaction(ctx.sessions) as session:
        await subscriber_webhooks.unsubscribe(session, subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", response_model=schemas.DeliveryPage)
async def list_deliveries(
    subscription_id: schemas.Id,
    session: ReadSession,
    _key: Admin,
    state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> schemas.DeliveryPage:
    """The subscription's deliveries, newest first, with each one's state, tries and last answer."""
    await subscriber_webhooks.subscription(session, subscription_id)
    stmt = subscriber_webhooks.deliveries_of(subscription_id, state)
    page = await paging.page(session, stmt, WebhookDelivery.id, kind="d", limit=limit, cursor=cursor)
    return schemas.DeliveryPage(
        items=[schemas.DeliveryOut.of(row) for (row,) in page.items], next_cursor=page.next_cursor
    )


@router.post("/{subscription_id}/replay", response_model=schemas.ReplayOut)
async def replay(
    subscription_id: schemas.Id, ctx: Ctx, _key: Admin, body: schemas.ReplayIn | None = None
) -> schemas.ReplayOut:
    """Send deliveries again, at once and with fresh attempts: by default every failed one; or those in
    ``states`` (``delivered`` too, to rebuild a subscriber's copy), written ``since`` a time; or the ``ids``
    named, whatever their state (with ``states`` too: those of them in these states)."""
    return schemas.ReplayOut(replayed=await replay_deliveries(ctx, subscription_id, body or schemas.ReplayIn()))


async def replay_deliveries(ctx: AppContext, subscription_id: int, wanted: schemas.ReplayIn) -> int:
    """Queue the deliveries ``wanted`` names again and wake the deliverer; returns how many (the admin pages'
    replay too)."""
    states = wanted.states
    if wanted.ids and "states" not in wanted.model_fields_set:
        states = list(get_args(schemas.DeliveryState))
    async with db.transaction(ctx.sessions) as session:
        count = await subscriber_webhooks.replay(
            session, subscription_id, states=states, since=wanted.since, ids=wanted.ids
        )
    ctx.notifier.notify(Channel.EVENTS)
    return count
