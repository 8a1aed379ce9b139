"""The contents of a message to send that are not interactive (``interactive.py``): Meta's objects with Meta's
limits (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages). Simple contents (text, media,
location, reaction) are closed: an unknown field is refused. The rich ones (contacts, template) keep fields wahub
does not know, so that what Meta adds can be sent without waiting for wahub; what wahub knows in them is checked."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from wahub.api.schemas.common import Id

TEXT_MAX = 4096
CAPTION_MAX = 1024
FILENAME_MAX = 255  # wahub's bound: Meta states none, file systems stop here
CONTENT_VARIABLE_MAX = 1024


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value[:80]!r}")
    return value


HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_http_url)]


# The two kinds of content: closed (an unknown field is refused) and open (unknown fields are passed on to Meta).
class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Text(Closed):
    body: str = Field(min_length=1, max_length=TEXT_MAX)
    preview_url: bool | None = None


class _Media(Closed):
    id: str | None = Field(default=None, min_length=1, max_length=128)
    link: HttpUrl | None = None
    # wahub's own: a file uploaded with POST /api/v1/media; the sender uploads it to Meta and sends Meta's id.
    wahub_media_id: Id | None = None

    @model_validator(mode="after")
    def _id_or_link(self) -> _Media:
        if sum(v is not None for v in (self.id, self.link, self.wahub_media_id)) != 1:
            raise ValueError(
                "give the media by one of 'id' (uploaded to Meta), 'link' (an http(s) URL) or 'wahub_media_id' "
                "(uploaded with POST /api/v1/media)"
            )
        return self


class Image(_Media):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class Video(_Media):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class Document(_Media):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)
    filename: str | None = Field(default=None, min_length=1, max_length=FILENAME_MAX)


class Audio(_Media):
    pass


class Sticker(_Media):
    pass


class Location(Closed):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class Reaction(Closed):
    message_id: str = Field(min_length=1, max_length=256, description="the wamid reacted to")
    emoji: str = Field(max_length=16, description="one emoji; an empty string removes the reaction")


class ContactName(Open):
    formatted_name: str = Field(min_length=1, max_length=1000)


class ContactCard(Open):
    name: ContactName


class Language(Open):
    code: str = Field(min_length=2, max_length=16)


class TemplateComponent(Open):
    type: str = Field(min_length=1, max_length=32)
    parameters: list[dict[str, Any]] | None = None


class Template(Open):
    """Meta's template (``name``, ``language``, ``components``) or Twilio's Content template (``content_sid``,
    ``content_variables``); which one the sending account takes is checked when it is queued."""

    name: str | None = Field(default=None, min_length=1, max_length=512)
    language: Language | None = None
    components: list[TemplateComponent] | None = None
    content_sid: str | None = Field(
        default=None, pattern=r"^HX[0-9a-fA-F]{32}$", description="Twilio: the Content template's SID (HX…)"
    )
    content_variables: dict[str, Annotated[str, Field(max_length=CONTENT_VARIABLE_MAX)]] | None = Field(
        default=None, max_length=100, description='Twilio: the values of its variables, {"1": "Ana"}'
    )

    @model_validator(mode="after")
    def _meta_or_twilio(self) -> Template:
        if self.content_sid is not None:
            if self.name is not None or self.language is not None or self.components is not None:
                raise ValueError("a template is Meta's (name, language, components) or Twilio's (content_sid)")
        elif self.name is None or self.language is None:
            missing = "name" if self.name is None else "language"
            raise ValueError(f"'{missing}' is required for a Meta template; a Twilio one takes 'content_sid' instead")
        elif self.content_variables is not None:
            raise ValueError("'content_variables' go with a Twilio 'content_sid'; Meta's go in 'components'")
        return self


class Context(Closed):
    message_id: str = Field(min_length=1, max_length=256)
