"""Bodies of ``/api/v1/auth``, ``/api/v1/me`` and ``/api/v1/users``: logins, sessions and the people who hold them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "agent"]


class LoginIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com", "password": "…"}]}
    )

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: Role
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None = Field(description="set when the user can no longer log in")


class SessionOut(BaseModel):
    """A session begun or renewed: its cookies are set; ``csrf_token`` (also the ``wahub_csrf`` cookie) goes in the
    ``X-CSRF-Token`` header of every state-changing request."""

    user: UserOut
    csrf_token: str
    expires_in: int = Field(description="seconds the access token lives; then POST /api/v1/auth/refresh")


class MeOut(BaseModel):
    """Who the credentials are: a user (``user`` is set) or an API key."""

    kind: Literal["key", "user"]
    id: int
    role: str = Field(description="a user's role (admin, agent), or 'key'")
    scopes: list[str]
    user: UserOut | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=100)
    role: Role = "agent"


class UserCreated(BaseModel):
    user: UserOut
    password: str = Field(description="a one-time password to hand to the user; it is not shown again")
