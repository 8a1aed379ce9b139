"""What every resource's bodies share: ids, errors, entity references, a contact as a message names it, and
``Joined``, the row view that response models read (``from_attributes``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from wahub.store import paging

Id = Annotated[int, Field(ge=1, le=paging.ID_MAX)]
"""A row's id, wherever a client gives one: in a path (out of range: 404, see ``api/errors.py``), a filter or a
body (out of range: 422). Beyond ``paging.ID_MAX`` no row can have it, and the database would refuse the query."""


class Joined:
    """A row read together with what is shown beside it (another row, a value computed for the answer): the
    response models read it with pydantic's ``from_attributes``, finding each attribute in ``beside`` first, then
    on the row. The row itself is left as it is (it may belong to a session)."""

    __slots__ = ("_beside", "_row")

    def __init__(self, row: object, **beside: object) -> None:
        self._row = row
        self._beside = beside

    def __getattr__(self, name: str) -> Any:
        if name in self._beside:
            return self._beside[name]
        return getattr(self._row, name)


class ErrorDetail(BaseModel):
    code: str = Field(description="what went wrong, for programs: not_found, invalid_input, rate_limited…")
    message: str = Field(description="what went wrong, for people")
    details: dict[str, Any] = Field(description="more about it: for invalid input, 'errors' names each field")


class ErrorBody(BaseModel):
    """Every error answer of the API (4xx and 5xx)."""

    error: ErrorDetail


ENTITY_TYPE = r"^[A-Za-z0-9_.:-]{1,64}$"
ENTITY_ID = r"^[^\x00-\x1f\x7f]{1,128}$"  # anything printable: an ERP's own ids


class EntityRef(BaseModel):
    """A thing of another system (an ERP's invoice, a CRM's deal) that a message or conversation concerns."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"entity_type": "invoice", "entity_id": "INV-123"}]}
    )

    entity_type: str = Field(pattern=ENTITY_TYPE, description="letters, digits, '_', '.', ':' or '-' (1-64)")
    entity_id: str = Field(pattern=ENTITY_ID, description="1-128 printable characters")

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity_type, self.entity_id)

    @classmethod
    def all_of(cls, found: list[tuple[str, str]]) -> list[EntityRef]:
        return [cls(entity_type=t, entity_id=i) for t, i in found]


# A contact as a message or conversation names it (no docstring: it would become its OpenAPI description).
class ContactRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    wa_id: str | None
    user_id: str | None
    name: str | None = Field(validation_alias="profile_name")


# Why a message failed, as Meta said it: the ``error_*`` columns of a message or status row.
class ErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: int | None = Field(validation_alias="error_code")
    title: str | None = Field(validation_alias="error_title")
    details: str | None = Field(validation_alias="error_details")
