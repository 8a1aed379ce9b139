"""Bodies of ``/api/v1/media`` answers, read from their rows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from wahub.api.schemas.common import Joined
from wahub.store.models import Media


class MediaOut(BaseModel):
    """A media file a message carries: fetched from the provider into wahub's storage."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    provider_media_id: str
    state: str = Field(description="pending (being fetched), stored, or failed (see error)")
    mime_type: str | None
    filename: str | None
    size: int | None
    sha256: str | None
    error: str | None
    download_url: str | None = Field(description="once stored: a link that streams the file, no API key needed")
    download_expires_in: int | None = Field(description="seconds the link stays valid")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: Media, link: str | None, ttl: int | None) -> MediaOut:
        return cls.model_validate(Joined(item, download_url=link, download_expires_in=ttl))
