"""The peer of the ingest benchmark (issue 20): pywa 4.5 on FastAPI, receiving the same signed webhooks as wahub.

pywa checks the signature against the app secret, answers 200, then (in FastAPI's background task, in the same
process) parses the update into its types and dispatches it to the handlers below, which keep nothing. That is
what a bot built on pywa does at the least; wahub's end-to-end rate divided by this one's ack rate is the
issue's bar. Served by uvicorn like wahub and the baseline, in its own process:
``python -m uvicorn pywa_app:app --app-dir bench --no-access-log``. pywa is in the ``bench`` extra
(``pip install -e '.[bench]'``), never in wahub's own dependencies.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from meta_webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID
from pywa_async import WhatsApp, types

app = FastAPI()


@app.get("/healthz")
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


wa = WhatsApp(
    phone_id=PHONE_NUMBER_ID,
    waba_id=WABA_ID,
    server=app,
    webhook_endpoint="/webhooks/meta",
    verify_token="bench-verify",
    app_secret=APP_SECRET,
    validate_updates=True,
)
HANDLED = {"messages": 0, "statuses": 0}


@wa.on_message
async def on_message(_: Any, message: types.Message) -> None:
    HANDLED["messages"] += 1  # keeps nothing: a count, so the dispatch is not optimised away


@wa.on_message_status
async def on_status(_: Any, status: types.MessageStatus) -> None:
    HANDLED["statuses"] += 1
