"""faketwilio speaks Twilio's Messaging API for WhatsApp: the official SDK as its client, basic auth, signed form
callbacks, media behind basic auth, simulated people, injected faults.

Servers run on loopback sockets; a small receiver records every callback and checks its X-Twilio-Signature with
the official library's RequestValidator, as wahub does.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from faketwilio import FakeTwilioConfig, SimulatedContact, create_app
from tests.support import eventually, running

SID = "AC" + "1" * 32
TOKEN = "test-auth-token"
SENDER = "whatsapp:+14155238886"
EVA = "14155550111"
STRANGER = "15559870000"


@dataclass
class Receiver:
    """Callbacks taken, each with whether its signature held."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)

    def of(self, sid: str, kind: str = "") -> list[dict[str, Any]]:
        return [p for p in self.posts if p["form"].get("MessageSid") == sid and kind in p["path"]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    validator = RequestValidator(TOKEN)

    async def take(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = got.url + request.url.path
        valid = validator.validate(url, form, request.headers.get("x-twilio-signature", ""))
        got.posts.append({"path": request.url.path, "form": form, "valid": valid})
        return Response(status_code=200 if valid else 401)

    app = Starlette(routes=[Route("/{path:path}", take, methods=["POST"])])
    async with running(app) as url:
        got.url = url
        yield got


@pytest.fixture
async def fake(receiver: Receiver) -> AsyncIterator[str]:
    config = FakeTwilioConfig(
        account_sid=SID,
        auth_token=TOKEN,
        api_keys={"SK" + "2" * 32: "key-secret"},
        sender=SENDER,
        inbound_url=f"{receiver.url}/webhooks/twilio",
        contacts=[SimulatedContact(EVA, "Eva")],
        speed=50,
        reply=False,
        seed=3,
    )
    async with running(create_app(config)) as url:
        async with httpx.AsyncClient(base_url=url) as control:
            await control.post("/_fake/config", json={"public_url": url})
        yield url


@pytest.fixture
async def twilio(fake: str) -> AsyncIterator[Client]:
    """The official SDK with its aiohttp client, pointed at faketwilio."""
    http = AsyncTwilioHttpClient()
    client = Client(SID, TOKEN, http_client=http)
    client.api.base_url = fake
    client.messaging.base_url = fake
    yield client
    await http.close()


@pytest.fixture
async def control(fake: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake) as c:
        yield c


async def statuses(control: httpx.AsyncClient, sid: str) -> list[str]:
    rows = (await control.get("/_fake/messages", params={"sid": sid})).json()["data"]
    return [s["status"] for s in rows[0]["statuses"]] if rows else []


async def test_a_text_sent_with_the_sdk_reaches_read_through_signed_status_callbacks(
    twilio: Client, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/webhooks/twilio/status"
    message = await twilio.api.v2010.account.messages.create_async(
        to=f"whatsapp:+{EVA}", from_=SENDER, body="Hello", status_callback=callback
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34 and message.status == "queued"

    async def read() -> list[dict[str, Any]]:
        posts = receiver.of(message.sid, "status")
        return posts if [p["form"]["MessageStatus"] for p in posts] == ["sent", "delivered", "read"] else []

    posts = await eventually(read)
    assert all(p["valid"] for p in posts)
    assert posts[0]["form"]["From"] == SENDER and posts[0]["form"]["To"] == f"whatsapp:+{EVA}"
    assert posts[0]["form"]["AccountSid"] == SID


async def test_wrong_credentials_get_20003_and_an_api_key_works(fake: str) -> None:
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = {"To": f"whatsapp:+{EVA}", "From": SENDER, "Body": "hi"}
    async with httpx.AsyncClient(base_url=fake) as raw:
        refused = await raw.post(path, data=form, auth=(SID, "wrong"))
        anonymous = await raw.post(path, data=form)
        with_key = await raw.post(path, data=form, auth=("SK" + "2" * 32, "key-secret"))
        other_account = await raw.post(path.replace(SID, "AC" + "9" * 32), data=form, auth=(SID, TOKEN))
    assert refused.status_code == anonymous.status_code == 401
    assert refused.json()["code"] == 20003 and refused.json()["more_info"].endswith("/20003")
    assert with_key.status_code == 201 and with_key.json()["sid"].startswith("SM")
    assert other_account.status_code == 404 and other_account.json()["code"] == 20404


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": f"whatsapp:+{EVA}", "Body": "x"}, 21603),
        ({"To": "whatsapp:+1", "From": SENDER, "Body": "x"}, 21211),
        ({"To": f"+{EVA}", "From": SENDER, "Body": "x"}, 21910),
        ({"To": f"whatsapp:+{EVA}", "From": "whatsapp:+15550001111", "Body": "x"}, 63007),
        ({"To": f"whatsapp:+{EVA}", "From": SENDER}, 21602),
        ({"To": f"whatsapp:+{EVA}", "From": SENDER, "ContentSid": "HX" + "f" * 32}, 21655),
        ({"To": f"whatsapp:+{EVA}", "From": SENDER, "ContentSid": "HX" + "1" * 32, "ContentVariables": "{"}, 21656),
    ],
)
async def test_bad_sends_get_twilios_codes(fake: str, form: dict[str, str], code: int) -> None:
    async with httpx.AsyncClient(base_url=fake, auth=(SID, TOKEN)) as raw:
        answer = await raw.post(f"/2010-04-01/Accounts/{SID}/Messages.json", data=form)
    assert answer.status_code == 400 and answer.json()["code"] == code, answer.text


async def test_the_sdk_sees_twilio_errors_with_their_codes(twilio: Client, control: httpx.AsyncClient) -> None:
    await control.post("/_fake/faults", json={"fail_next": 1, "error_code": 63018})
    with pytest.raises(TwilioRestException) as raised:
        await twilio.api.v2010.account.messages.create_async(to=f"whatsapp:+{EVA}", from_=SENDER, body="x")
    assert raised.value.code == 63018 and raised.value.status == 429
    await control.post("/_fake/faults", json={"max_mps": 1})
    await twilio.api.v2010.account.messages.create_async(to=f"whatsapp:+{EVA}", from_=SENDER, body="1")
    with pytest.raises(TwilioRestException) as raised:
        await twilio.api.v2010.account.messages.create_async(to=f"whatsapp:+{EVA}", from_=SENDER, body="2")
    assert raised.value.code == 20429


async def test_an_opted_out_recipient_is_refused_at_once(twilio: Client, control: httpx.AsyncClient) -> None:
    await control.post("/_fake/config", json={"opted_out_numbers": [STRANGER]})
    with pytest.raises(TwilioRestException) as raised:
        await twilio.api.v2010.account.messages.create_async(to=f"whatsapp:+{STRANGER}", from_=SENDER, body="x")
    assert raised.value.code == 21610


async def test_outside_the_window_only_an_approved_content_template_is_delivered(
    twilio: Client, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.post("/_fake/config", json={"enforce_window": True})
    callback = f"{receiver.url}/status"
    messages = twilio.api.v2010.account.messages
    text = await messages.create_async(to=f"whatsapp:+{STRANGER}", from_=SENDER, body="x", status_callback=callback)
    template = await messages.create_async(
        to=f"whatsapp:+{STRANGER}",
        from_=SENDER,
        content_sid="HX" + "1" * 32,
        content_variables='{"1": "Eva"}',
        status_callback=callback,
    )
    failed = await eventually(lambda: _form_with(receiver, text.sid, "failed"))
    assert failed["ErrorCode"] == "63016" and "window" in failed["ErrorMessage"]
    await eventually(lambda: _form_with(receiver, template.sid, "read"))


async def _form_with(receiver: Receiver, sid: str, status: str) -> dict[str, str] | None:
    return next((p["form"] for p in receiver.of(sid) if p["form"]["MessageStatus"] == status), None)


async def test_outbound_media_is_fetched_from_its_url_before_it_is_sent(
    twilio: Client, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    png = b"\x89PNG\r\n\x1a\n fake"

    async def serve(request: Request) -> Response:
        if request.url.path == "/gone.png":
            return Response(status_code=404)
        return Response(png, media_type="image/png")

    async with running(Starlette(routes=[Route("/{name}", serve)])) as files:
        messages = twilio.api.v2010.account.messages
        callback = f"{receiver.url}/status"
        good = await messages.create_async(
            to=f"whatsapp:+{EVA}", from_=SENDER, media_url=[f"{files}/a.png"], status_callback=callback
        )
        bad = await messages.create_async(
            to=f"whatsapp:+{EVA}", from_=SENDER, media_url=[f"{files}/gone.png"], status_callback=callback
        )
        await eventually(lambda: _form_with(receiver, good.sid, "sent"))
        failed = await eventually(lambda: _form_with(receiver, bad.sid, "failed"))
    assert good.sid.startswith("MM") and failed["ErrorCode"] == "63019"
    (row,) = (await control.get("/_fake/messages", params={"sid": good.sid})).json()["data"]
    assert row["media_fetches"][0]["http_status"] == 200
    assert row["media_fetches"][0]["content_type"] == "image/png" and row["media_fetches"][0]["size"] == len(png)


async def test_inbound_media_is_served_only_with_basic_auth(
    fake: str, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    data = b"%PDF-1.4 a document"
    body = {
        "from": EVA,
        "text": "the contract",
        "media": {"content_base64": base64.b64encode(data).decode(), "content_type": "application/pdf"},
    }
    sent = (await control.post("/_fake/inbound", json=body)).json()
    assert sent["delivered"] is True
    (post,) = [p for p in receiver.posts if p["form"]["MessageSid"] == sent["sid"]]
    form = post["form"]
    assert post["valid"] and post["path"] == "/webhooks/twilio"
    assert form["NumMedia"] == "1" and form["MediaContentType0"] == "application/pdf"
    assert form["WaId"] == EVA and form["ProfileName"] == "Eva" and form["MessageType"] == "document"
    url = form["MediaUrl0"]
    assert url.startswith(f"{fake}/2010-04-01/Accounts/{SID}/Messages/{sent['sid']}/Media/ME")
    async with httpx.AsyncClient(follow_redirects=True) as raw:
        assert (await raw.get(url)).status_code == 401
        assert (await raw.get(url, auth=(SID, "wrong"))).status_code == 401
        fetched = await raw.get(url, auth=(SID, TOKEN))
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "application/pdf"


async def test_a_question_gets_an_answer_that_names_the_message_it_replies_to(
    twilio: Client, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.post("/_fake/config", json={"reply": True})
    message = await twilio.api.v2010.account.messages.create_async(
        to=f"whatsapp:+{EVA}", from_=SENDER, body="Can you send a photo?"
    )

    async def answer() -> dict[str, str] | None:
        return next(
            (p["form"] for p in receiver.posts if p["form"].get("OriginalRepliedMessageSid") == message.sid), None
        )

    form = await eventually(answer)
    assert form["NumMedia"] == "1" and form["MediaContentType0"] == "image/png" and form["From"] == f"whatsapp:+{EVA}"


async def test_duplicated_callbacks_carry_the_same_form(
    twilio: Client, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.post("/_fake/faults", json={"duplicate_webhook_rate": 1.0})
    message = await twilio.api.v2010.account.messages.create_async(
        to=f"whatsapp:+{EVA}", from_=SENDER, body="x", status_callback=f"{receiver.url}/status"
    )

    async def doubled() -> list[dict[str, Any]]:
        posts = [p for p in receiver.of(message.sid) if p["form"]["MessageStatus"] == "read"]
        return posts if len(posts) == 2 else []

    first, second = await eventually(doubled)
    assert first["form"] == second["form"] and first["valid"] and second["valid"]


async def test_the_account_and_its_whatsapp_sender_can_be_fetched(twilio: Client) -> None:
    account = await twilio.api.v2010.accounts(SID).fetch_async()
    senders = await twilio.messaging.v2.channels_senders.list_async(channel="whatsapp")
    assert account.sid == SID and account.status == "active"
    assert [s.sender_id for s in senders] == [SENDER]


async def test_bad_faults_and_config_are_refused(control: httpx.AsyncClient) -> None:
    assert (await control.post("/_fake/faults", json={"error_rate": 2})).status_code == 400
    assert (await control.post("/_fake/faults", json={"nonsense": 1})).status_code == 400
    assert (await control.post("/_fake/config", json={"speed": 0})).status_code == 400
    assert (await control.post("/_fake/inbound", json={"from": "x"})).status_code == 400
