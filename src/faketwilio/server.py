"""Running faketwilio standalone: `python -m faketwilio` (and `wahub faketwilio`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from faketwilio.app import create_app
from faketwilio.config import FakeTwilioConfig


def run(config: FakeTwilioConfig, host: str = "127.0.0.1", port: int = 8600) -> None:
    """Serve faketwilio with uvicorn until interrupted (blocking)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faketwilio",
        description="A fake of Twilio's Messaging API for WhatsApp that posts signed callbacks.",
        epilog="example: python -m faketwilio --port 8600 --inbound-url http://127.0.0.1:8000/webhooks/twilio",
    )
    defaults = FakeTwilioConfig()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--inbound-url", help="URL that receives inbound messages (wahub's /webhooks/twilio)")
    parser.add_argument("--account-sid", default=defaults.account_sid)
    parser.add_argument("--auth-token", default=defaults.auth_token, help="signs callbacks; REST basic auth")
    parser.add_argument("--sender", default=defaults.sender, help="the WhatsApp sender, whatsapp:+E164")
    parser.add_argument("--speed", type=float, default=1.0, help="divides every simulated delay")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-reply", action="store_true", help="simulated contacts never answer")
    parser.add_argument("--public-url", help="base URL clients reach faketwilio at (inbound media URLs)")
    parser.add_argument("--no-callbacks", action="store_true", help="post no status or inbound callbacks")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    config = FakeTwilioConfig(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        sender=args.sender,
        inbound_url=args.inbound_url,
        speed=args.speed,
        seed=args.seed,
        reply=not args.no_reply,
        callbacks=not args.no_callbacks,
        public_url=args.public_url or f"http://{args.host}:{args.port}",
    )
    run(config, args.host, args.port)
