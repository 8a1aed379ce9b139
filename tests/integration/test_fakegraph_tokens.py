"""fakegraph's access tokens: Meta's token exchange and debug_token, on the unversioned and versioned paths, and
the control API that makes a token a System User's, expire at a chosen time, or be revoked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from fakegraph import FakeGraphConfig, create_app

SECRET = "test-app-secret"
TOKEN = "test-access-token"
APP_ID = "300000000000001"
PHONE_ID = "100000000000001"
MESSAGES = f"/v25.0/{PHONE_ID}/messages"
TEXT = {"messaging_product": "whatsapp", "to": "14155550101", "type": "text", "text": {"body": "hi"}}
SIXTY_DAYS = 60 * 24 * 3600


@pytest.fixture
async def fake() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(FakeGraphConfig(callback_url=None, access_token=TOKEN, app_secret=SECRET, seed=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fakegraph.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def short_token(fake: httpx.AsyncClient) -> str:
    minted = await fake.post("/_fake/tokens", json={"mint": True, "type": "USER", "expires_in": 3600})
    assert minted.status_code == 200, minted.text
    return str(minted.json()["token"])


def exchange_query(token: str, *, secret: str = SECRET, app_id: str = APP_ID) -> dict[str, str]:
    return {"grant_type": "fb_exchange_token", "client_id": app_id, "client_secret": secret, "fb_exchange_token": token}


@pytest.mark.parametrize("path", ["/oauth/access_token", "/v25.0/oauth/access_token"])
async def test_exchange_gives_a_long_lived_token_in_metas_shape(fake: httpx.AsyncClient, path: str) -> None:
    short = await short_token(fake)
    answer = await fake.get(path, params=exchange_query(short))  # no bearer token: the app's id and secret
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["access_token"].startswith("EAAG")
    assert SIXTY_DAYS - 5 <= body["expires_in"] <= SIXTY_DAYS
    sent = await fake.post(MESSAGES, json=TEXT, headers=bearer(body["access_token"]))
    assert sent.status_code == 200, sent.text  # the long-lived token works on Graph calls


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ({"secret": "wrong"}, 1, "Error validating client secret."),
        ({"app_id": "1"}, 101, "Error validating application. Invalid application ID."),
    ],
)
async def test_exchange_refuses_a_wrong_app_as_meta_does(
    fake: httpx.AsyncClient, query: dict[str, str], code: int, message: str
) -> None:
    answer = await fake.get("/oauth/access_token", params=exchange_query(await short_token(fake), **query))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["message"], error["type"]) == (code, message, "OAuthException")
    assert error["fbtrace_id"].startswith("A")


async def test_exchange_refuses_an_unknown_or_expired_short_token(fake: httpx.AsyncClient) -> None:
    unknown = await fake.get("/oauth/access_token", params=exchange_query("not-a-token"))
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == 190
    short = await short_token(fake)
    await fake.post("/_fake/tokens", json={"token": short, "expires_at": int(time.time()) - 1})
    expired = await fake.get("/oauth/access_token", params=exchange_query(short))
    assert expired.status_code == 401
    assert expired.json()["error"]["error_subcode"] == 463 and "expired" in expired.json()["error"]["message"]
    missing = await fake.get("/oauth/access_token", params={"grant_type": "fb_exchange_token"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100


@pytest.mark.parametrize("path", ["/debug_token", "/v25.0/debug_token"])
async def test_debug_token_describes_a_user_token_with_its_expiry(fake: httpx.AsyncClient, path: str) -> None:
    long = (await fake.get("/oauth/access_token", params=exchange_query(await short_token(fake)))).json()
    answer = await fake.get(path, params={"input_token": long["access_token"]}, headers=bearer(long["access_token"]))
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["app_id"] == APP_ID and data["type"] == "USER" and data["is_valid"] is True
    assert abs(data["expires_at"] - (time.time() + long["expires_in"])) < 5
    assert data["data_access_expires_at"] > data["expires_at"]
    assert "whatsapp_business_messaging" in data["scopes"]
    assert {"scope", "target_ids"} <= set(data["granular_scopes"][0])


async def test_the_configured_token_is_a_system_users_that_never_expires(fake: httpx.AsyncClient) -> None:
    data = (await fake.get("/debug_token", params={"input_token": TOKEN}, headers=bearer(TOKEN))).json()["data"]
    assert (data["type"], data["expires_at"], data["data_access_expires_at"], data["is_valid"]) == (
        "SYSTEM_USER",
        0,
        0,
        True,
    )
    # The app token (app id|app secret) may ask too, as Meta allows.
    app = await fake.get("/debug_token", params={"input_token": TOKEN, "access_token": f"{APP_ID}|{SECRET}"})
    assert app.status_code == 200 and app.json()["data"]["type"] == "SYSTEM_USER"


async def test_a_token_set_to_expire_is_refused_after_its_time_and_debugged_as_invalid(
    fake: httpx.AsyncClient,
) -> None:
    soon = int(time.time()) + 7 * 24 * 3600
    changed = await fake.post("/_fake/tokens", json={"token": TOKEN, "type": "USER", "expires_at": soon})
    assert changed.status_code == 200 and changed.json()["expires_at"] == soon
    data = (await fake.get("/debug_token", params={"input_token": TOKEN}, headers=bearer(TOKEN))).json()["data"]
    assert (data["type"], data["expires_at"], data["is_valid"]) == ("USER", soon, True)
    assert (await fake.post(MESSAGES, json=TEXT, headers=bearer(TOKEN))).status_code == 200

    await fake.post("/_fake/tokens", json={"token": TOKEN, "expires_at": int(time.time()) - 60})
    refused = await fake.post(MESSAGES, json=TEXT, headers=bearer(TOKEN))
    assert refused.status_code == 401
    assert (refused.json()["error"]["code"], refused.json()["error"]["error_subcode"]) == (190, 463)
    app_token = f"{APP_ID}|{SECRET}"
    described = await fake.get("/debug_token", params={"input_token": TOKEN, "access_token": app_token})
    data = described.json()["data"]
    assert data["is_valid"] is False and data["error"]["code"] == 190 and data["error"]["subcode"] == 463


async def test_a_revoked_token_fails_every_call_with_190(fake: httpx.AsyncClient) -> None:
    assert (await fake.post("/_fake/tokens", json={"token": TOKEN, "revoked": True})).status_code == 200
    refused = await fake.post(MESSAGES, json=TEXT, headers=bearer(TOKEN))
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (190, 460, "OAuthException")
    assert (await fake.get(f"/v25.0/{PHONE_ID}", headers=bearer(TOKEN))).status_code == 401
    # Reset forgets it, as it forgets faults.
    await fake.post("/_fake/reset")
    assert (await fake.post(MESSAGES, json=TEXT, headers=bearer(TOKEN))).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"token": TOKEN, "type": "ROBOT"}, {"token": TOKEN, "expires_at": "soon"}, {"revoked": True}, {"nope": 1}],
)
async def test_bad_token_controls_are_refused_with_a_reason(fake: httpx.AsyncClient, body: dict[str, object]) -> None:
    answer = await fake.post("/_fake/tokens", json=body)
    assert answer.status_code == 400 and answer.json()["error"]["message"]
    garbled = await fake.post("/_fake/tokens", content=b"{not json")
    assert garbled.status_code == 400 and garbled.json()["error"]["message"] == "body is not JSON"
