"""The inbox's Jinja2 environment and its static files.

Autoescape is on for every template, whatever its name: every value from WhatsApp is hostile, and the
templates never mark one safe. Undefined names fail loudly (``StrictUndefined``) instead of rendering empty.

Static files are served at ``/static/<digest>/<path>``, where the digest covers every file of the folder: a
new release (or any edited file) gets new URLs, so browsers may keep the files for a year
(``api/headers.py``), and the ES modules' relative imports (``./ticks.js``) stay within one release.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from wahub.web import composing, views

HERE = Path(__file__).parent
STATIC = HERE / "static"
_SERVED = frozenset({".js", ".css", ".svg", ".png", ".ico", ".woff2"})


def digest(root: Path = STATIC) -> str:
    """A short hash of every file under ``root`` that is served (names and bytes)."""
    hashed = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _SERVED):
        hashed.update(path.relative_to(root).as_posix().encode() + b"\0")
        hashed.update(path.read_bytes())
    return hashed.hexdigest()[:16]


class Pages:
    """Renders the templates under ``templates/``; ``static(path)`` is a static file's URL in them."""

    def __init__(self, static_digest: str | None = None) -> None:
        self.static_digest = static_digest or digest()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            static=self.static,
            ranks_json=json.dumps(views.RANKS, separators=(",", ":")),
            tick_labels_json=json.dumps(views.TICK_LABELS, separators=(",", ":")),
            media_limits_json=json.dumps(composing.media_limits(), separators=(",", ":")),
            media_accept=composing.media_accept(),
        )

    @property
    def static_prefix(self) -> str:
        return f"/static/{self.static_digest}"

    def static(self, path: str) -> str:
        return f"{self.static_prefix}/{path}"

    def render(
        self, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        """The template ``name`` rendered with ``context``, as an HTML answer."""
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=headers)
