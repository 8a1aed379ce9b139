"""What a wahub process runs (``wahub serve --role``). Kept out of ``runtime`` so that the CLI can offer the
choice without importing the server."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ALL = "all"  # web and sender here, the processor in a child process
    WEB = "web"  # HTTP only: the API and the webhook receivers
    WORKER = "worker"  # processor and sender, no HTTP
    PROCESSOR = "processor"  # the webhook processor alone (what ``all`` starts as its child)
