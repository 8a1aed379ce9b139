"""``/docs`` (Swagger UI) and ``/redoc`` work on a closed network: every script and stylesheet they load is served
by wahub itself (vendored in the package), none is inline, so the pages also run under ``script-src 'self'``."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no data is involved

TYPES = {".js": "text/javascript", ".css": "text/css"}


class Assets(HTMLParser):
    """The URLs a page loads (script src, stylesheet href) and the text of any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self._in_script = True
            if found.get("src"):
                self.urls.append(str(found["src"]))
        elif tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip())


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_docs_load_only_wahubs_own_assets(anon: httpx.AsyncClient, page: str) -> None:
    answer = await anon.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assets = Assets()
    assets.feed(answer.text)
    assert assets.urls, answer.text
    assert not assets.inline, "an inline script needs script-src 'unsafe-inline'"
    assert not re.search(r"https?://", answer.text), "the page names another host"
    for url in assets.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        served = await anon.get(url)
        assert served.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert served.headers["content-type"].split(";")[0] == TYPES[suffix], (url, served.headers["content-type"])
        assert len(served.content) > 500, url
    scripts = [u for u in assets.urls if u.endswith(".js")]
    assert scripts


async def test_swagger_ui_is_told_where_the_openapi_description_is(anon: httpx.AsyncClient) -> None:
    assets = Assets()
    assets.feed((await anon.get("/docs")).text)
    init = [u for u in assets.urls if u.endswith(".js") and "bundle" not in u]
    assert init, assets.urls
    code = (await anon.get(init[0])).text + (await anon.get("/docs")).text
    assert "/openapi.json" in code
    assert (await anon.get("/openapi.json")).status_code == 200
    assert "/openapi.json" in (await anon.get("/redoc")).text
