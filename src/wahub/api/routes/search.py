"""``/api/v1/search``: messages found by their words (body, caption, filename, titles, shared contacts...)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from wahub.api import schemas, visibility
from wahub.api.deps import Reader, ReadSession
from wahub.store import accounts, entities, search
from wahub.store.search_text import parse

router = APIRouter(prefix="/api/v1/search", tags=["search"])

QUERY_HELP = (
    'words (all must match; the last one also matches words it begins), "quoted phrases"; punctuation separates '
    "words, and a query of only symbols finds nothing"
)


class SearchHit(BaseModel):
    message: schemas.MessageOut = Field(description="the message, with its contact and conversation_id")
    snippet: str | None = Field(description="a few words of its text around the first match")
    highlights: list[tuple[int, int]] = Field(description="the matched words in snippet: [start, end) offsets")


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None


@router.get("", response_model=SearchPage)
async def search_messages(
    session: ReadSession,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=200, description=QUERY_HELP)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SearchPage:
    """Messages whose text matches ``q``, newest first, in the conversations the caller may see. Pass
    ``next_cursor`` back as ``cursor`` for the next page. Conversations by a contact's name or number:
    ``GET /api/v1/conversations?q=``."""
    page = await search.find_messages(
        session, parse(q), limit=limit, cursor=cursor, visible=visibility.conversation_filter(principal)
    )
    linked = await entities.of_messages(session, [hit.message.id for hit in page.items])
    providers = await accounts.providers(session) if page.items else {}
    return SearchPage(
        items=[
            SearchHit(
                message=schemas.MessageOut.of(hit.message, hit.contact, providers, linked.get(hit.message.id)),
                snippet=hit.snippet,
                highlights=list(hit.highlights),
            )
            for hit in page.items
        ],
        next_cursor=page.next_cursor,
    )
