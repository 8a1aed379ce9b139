"""Security headers on every answer (api/headers.py), and the shut-out of addresses that keep sending wrong API
keys (api/limits.py ``FailedKeys``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.conftest import APP_SECRET, VERIFY_TOKEN
from tests.support import prometheus_samples
from wahub.api import headers
from wahub.api.context import AppContext
from wahub.api.limits import FailedKeys
from wahub.webhook.signature import meta_signature

STRICT = "default-src 'none'; frame-ancestors 'none'"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000001"
    "48afa4710000000049454e44ae426082"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(ctx: AppContext) -> Clock:
    """The clock of the failed-key shut-out, moved by the test."""
    clock = Clock()
    ctx.failed_keys = FailedKeys(threshold=10, first_delay=1.0, clock=clock)
    return clock


def from_address(base_url: str, address: str, api_key: str | None = None) -> httpx.AsyncClient:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 reaches the server)."""
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, headers=auth)


def assert_secured(response: httpx.Response, csp: str = STRICT) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == csp


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
        ("GET", "/docs/assets/swagger-init.js"),
        ("GET", "/webhooks/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token=" + VERIFY_TOKEN),
        ("POST", "/webhooks/meta"),
        ("GET", "/api/v1/messages"),
    ],
)
async def test_every_answer_carries_the_security_headers(anon: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anon.request(method, path)
    assert_secured(response)


async def test_a_signed_webhook_ack_carries_them_too(anon: httpx.AsyncClient) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    response = await anon.post(
        "/webhooks/meta", content=body, headers={"X-Hub-Signature-256": meta_signature(APP_SECRET, body)}
    )
    assert response.status_code == 200
    assert_secured(response)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_may_run_wahubs_own_scripts_only(anon: httpx.AsyncClient, page: str) -> None:
    response = await anon.get(page)
    assert response.status_code == 200
    assert_secured(response, headers.DOCS.decode())
    directives = dict(d.strip().split(" ", 1) for d in headers.DOCS.decode().split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no other origin
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


async def test_authenticated_answers_and_signed_media_links_are_not_stored(client: httpx.AsyncClient) -> None:
    listed = await client.get("/api/v1/messages")
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-store"
    assert_secured(listed)

    uploaded = await client.post("/api/v1/media", files={"file": ("dot.png", PNG, "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.headers["cache-control"] == "no-store"
    async with httpx.AsyncClient(base_url=str(client.base_url)) as anon:  # the link needs no key
        content = await anon.get(uploaded.json()["download_url"])
    assert content.status_code == 200
    assert content.content == PNG
    assert content.headers["cache-control"] == "no-store"
    assert_secured(content)


@pytest.fixture
async def guesser(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with from_address(base_url, "127.0.0.2", "wahub_00000000_not-a-key") as http:
        yield http


async def test_wrong_keys_from_one_address_are_shut_out_before_their_key_is_checked(
    base_url: str, api_key: str, guesser: httpx.AsyncClient, clock: Clock
) -> None:
    for _ in range(9):
        assert (await guesser.get("/api/v1/messages")).status_code == 401
    tenth = await guesser.get("/api/v1/messages")
    assert tenth.status_code == 401  # the tenth is still checked, and shuts the address out for 1 s

    async with from_address(base_url, "127.0.0.2", api_key) as same_address:
        refused = await same_address.get("/api/v1/messages")  # even a valid key waits
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["retry-after"] == "1"
        sending = await same_address.post("/api/v1/messages", json={"to": "+14155550100", "type": "text"})
        assert sending.status_code == 429  # the send path's own key check, too

        clock.now += 1.0
        assert (await same_address.get("/api/v1/messages")).status_code == 200
        assert (await guesser.get("/api/v1/messages")).status_code == 401  # the eleventh: 2 s out
        refused = await same_address.get("/api/v1/messages")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"  # the delay grows
        clock.now += 2.0
        assert (await same_address.get("/api/v1/messages")).status_code == 200


async def test_one_address_shut_out_leaves_the_others_alone(
    base_url: str, api_key: str, guesser: httpx.AsyncClient, clock: Clock
) -> None:
    for _ in range(10):
        await guesser.get("/api/v1/messages")
    assert (await guesser.get("/api/v1/messages")).status_code == 429
    async with from_address(base_url, "127.0.0.3", api_key) as other:
        assert (await other.get("/api/v1/messages")).status_code == 200
    async with from_address(base_url, "127.0.0.3", "wahub_00000000_also-wrong") as other_wrong:
        assert (await other_wrong.get("/api/v1/messages")).status_code == 401  # its own count, not 127.0.0.2's
    assert (await guesser.get("/api/v1/messages")).status_code == 429  # another's success reset nothing


async def test_wrong_webhook_signatures_stay_401_and_are_counted(base_url: str, api_key: str, clock: Clock) -> None:
    # Meta retries whatever is not a 200: a signature failure is never turned into a shut-out.
    async with from_address(base_url, "127.0.0.4") as sender:
        for _ in range(25):
            response = await sender.post("/webhooks/meta", content=b"{}", headers={"X-Hub-Signature-256": "sha256=00"})
            assert response.status_code == 401
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        samples = prometheus_samples((await http.get("/metrics")).text)
    assert samples["wahub_webhook_requests_total", 'provider="meta",result="bad_signature"'] == 25
