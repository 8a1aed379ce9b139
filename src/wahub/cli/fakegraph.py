"""``wahub fakegraph``: the fake Meta Cloud API on its own (the ``fakegraph`` package)."""

from __future__ import annotations

from typing import Annotated

import typer

from wahub.cli.base import say

app = typer.Typer()  # merged into the root app: ``wahub fakegraph``


@app.command(epilog="Example: wahub fakegraph --port 9000 --callback http://127.0.0.1:8000/webhooks/meta")
def fakegraph(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 9000,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    callback: Annotated[str | None, typer.Option(help="URL that receives the signed webhooks")] = None,
    app_secret: Annotated[str, typer.Option(help="App secret that signs the webhooks")] = "fakegraph-app-secret",  # noqa: S107 - fakegraph's well-known default
    access_token: Annotated[str | None, typer.Option(help="Bearer token Graph calls must carry")] = None,
    speed: Annotated[float, typer.Option(min=0.01, help="Divides every simulated delay")] = 1.0,
) -> None:
    """Run fakegraph, the fake Meta Cloud API, on its own."""
    import fakegraph as fg
    from fakegraph import server

    cfg = fg.FakeGraphConfig(callback_url=callback, app_secret=app_secret, access_token=access_token, speed=speed)
    say(f"fakegraph on http://{host}:{port} -> webhooks to {callback or '(none yet: POST /_fake/config)'}")
    server.run(cfg, host, port)
