"""Running fakegraph standalone: `fakegraph.server.run(config, host, port)` and its command line.

Used by `wahub fakegraph --port N --callback URL --app-secret S` and `python -m fakegraph`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from fakegraph.app import create_app
from fakegraph.config import FakeGraphConfig


def run(config: FakeGraphConfig, host: str = "127.0.0.1", port: int = 8500) -> None:
    """Serve fakegraph with uvicorn until interrupted (blocking)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m fakegraph`."""
    parser = argparse.ArgumentParser(
        prog="fakegraph",
        description="A fake of Meta's WhatsApp Cloud API that sends signed webhooks.",
        epilog="example: python -m fakegraph --port 8500 --callback http://127.0.0.1:8000/webhooks/meta "
        "--app-secret s3cret",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8500, help="port to listen on (default 8500)")
    parser.add_argument("--callback", help="URL that receives the webhooks (e.g. wahub's /webhooks/meta)")
    defaults = FakeGraphConfig()
    parser.add_argument("--app-secret", default=defaults.app_secret, help="HMAC key for webhooks")
    parser.add_argument("--access-token", help="bearer token Graph calls must carry (default: any)")
    parser.add_argument("--phone-number-id", default=defaults.phone_number_id)
    parser.add_argument(
        "--more-phone-number-id",
        action="append",
        default=[],
        help="a further phone number id that takes sends (repeatable)",
    )
    parser.add_argument("--waba-id", default=defaults.waba_id)
    parser.add_argument("--speed", type=float, default=1.0, help="divides every simulated delay")
    parser.add_argument("--seed", type=int, help="seed for the simulation's dice")
    parser.add_argument("--no-reply", action="store_true", help="simulated contacts never answer")
    parser.add_argument("--public-url", help="base URL clients reach fakegraph at (for media URLs)")
    return parser


def config_from_args(args: argparse.Namespace) -> FakeGraphConfig:
    """A config from parsed command-line arguments."""
    return FakeGraphConfig(
        callback_url=args.callback,
        app_secret=args.app_secret,
        access_token=args.access_token,
        phone_number_id=args.phone_number_id,
        more_phone_number_ids=args.more_phone_number_id,
        waba_id=args.waba_id,
        speed=args.speed,
        seed=args.seed,
        reply=not args.no_reply,
        public_url=args.public_url,
        freeze_gc=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m fakegraph`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    run(config_from_args(args), args.host, args.port)
