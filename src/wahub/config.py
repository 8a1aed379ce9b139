"""Settings: CLI flags > environment (``WAHUB_*``) > ``.env`` > ``wahub.toml`` > defaults.

Built once by the composition root (``cli/``, ``commands.py``) or by a test, then passed in. Imports nothing of wahub.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "WAHUB_"
STORAGE_SCHEMES = ("file", "s3", "gs", "azblob", "gdrive", "onedrive", "sharepoint", "memory")
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
# One CSP source of frame-ancestors: a keyword, a scheme (https:), or an origin with an optional wildcard
# subdomain and port. Nothing that could end the directive (';', ',', quotes) passes.
_FRAME_SOURCE = re.compile(
    r"'none'|'self'|[a-z][a-z0-9+.-]*:|([a-z][a-z0-9+.-]*://)?(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:(\d{1,5}|\*))?"
)


TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
TWILIO_SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def whatsapp_address(value: str) -> str:
    """A Twilio WhatsApp sender as Twilio writes it, ``whatsapp:+14155238886``, from that or the bare number;
    ValueError if it is neither."""
    number = value.strip().removeprefix("whatsapp:")
    if not number.startswith("+"):
        number = "+" + number
    if not _E164.fullmatch(number):
        raise ValueError(f"must be a WhatsApp sender as whatsapp:+14155238886 (E.164), got {value!r}")
    return "whatsapp:" + number


class SettingsError(Exception):
    """A setting has a bad value; the message names the setting and the problem in one line."""


class Settings(BaseSettings):
    """Everything wahub reads from its environment. Names are the SPEC's, less the ``WAHUB_`` prefix."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        toml_file="wahub.toml",
    )

    data_dir: Path = Path("./wahub-data")
    database_url: str = ""
    storage_url: str = ""
    # Processed webhook bodies (the event journal) are deleted this many days after processing, in the
    # background; 0 keeps them forever. Messages keep their own raw JSON whatever this says.
    raw_event_days: int = Field(default=30, ge=0, le=36500)
    secret_key: SecretStr | None = None
    graph_url: str = "https://graph.facebook.com"
    graph_version: str = "v25.0"
    send_rate: int = Field(default=80, ge=1, le=1000)
    # How much later than their neighbours sends may reach Meta (network and server jitter), in milliseconds:
    # each number counts its sends in a window of one second plus this, so jittered arrivals stay within the
    # limit too. 0 sends at exactly the limit, and a jittered second may then hold a few sends over it.
    send_jitter_ms: int = Field(default=20, ge=0, le=500)
    # How long a send whose answer was lost (a worker killed mid-send, a timeout) waits for the message's status
    # before it is sent again, for messages sent at most once where they can be (campaigns'), in seconds.
    send_confirm_seconds: int = Field(default=300, ge=1, le=86_400)
    # Requests per second one API key may make to this process (a burst of twice that passes); 0: no limit.
    api_rate_limit: int = Field(default=200, ge=0, le=1_000_000)
    # Media fetched from a URL a user gave may come from loopback or private addresses (off: SSRF protection).
    allow_private_urls: bool = False
    # Request bodies held in memory at once while they are read, all connections together (api/bodies.py):
    # beyond it a body waits a second for room, then is refused with 503. At least one 3 MB webhook.
    body_memory_mb: int = Field(default=32, ge=4, le=65536)
    # Who may frame the inbox's pages (CSP ``frame-ancestors``): ``'none'``, or ``'self'`` and/or origins such as
    # ``https://erp.example.com`` (an ERP that embeds the inbox), separated by spaces.
    frame_ancestors: str = "'none'"
    # The live stream (GET /api/v1/stream). Its reader in each web process also reads new events this often, in
    # milliseconds: a safety net only, since commits wake it (its own process's; the processor child's of
    # ``wahub serve``, through a pipe; on PostgreSQL any process's, through NOTIFY).
    stream_poll_ms: int = Field(default=1000, ge=10, le=3_600_000)
    # Events queued for one stream connection at most; a connection further behind is told to resync.
    stream_queue_size: int = Field(default=1000, ge=10, le=1_000_000)
    # Seconds between heartbeats (SSE comments) on a stream with nothing to send.
    stream_heartbeat_seconds: int = Field(default=15, ge=1, le=3600)

    phone_number_id: str | None = None
    waba_id: str | None = None
    access_token: SecretStr | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None

    # The URL the world reaches this wahub at, when a proxy stands in front: Twilio's signatures are checked
    # against it, and status callbacks and the media links Twilio fetches are built on it.
    public_url: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    # Where Twilio's REST API is (api.twilio.com and messaging.twilio.com when unset): faketwilio's URL in tests.
    twilio_url: str | None = None

    # Which provider the sandbox fakes when no account is configured (``wahub serve --sandbox twilio``).
    sandbox_provider: Literal["meta", "twilio"] = "meta"

    # Reports (``[reports.NAME]`` tables in wahub.toml; fields: ``automations/report_definition.py``), and the
    # databases their SQL queries may read, by name (``[report_databases]``, ``NAME = "postgresql://…"``).
    reports: dict[str, dict[str, Any]] = Field(default_factory=dict)
    report_databases: dict[str, str] = Field(default_factory=dict)

    log_level: str = "INFO"
    log_file: Path | None = None
    log_json: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, TomlConfigSettingsSource(settings_cls))

    @field_validator("graph_url", "public_url", "twilio_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid_shape(cls, value: str | None) -> str | None:
        if value is not None and not TWILIO_ACCOUNT_SID.fullmatch(value):
            raise ValueError(f"must be Twilio's Account SID (AC and 32 hex digits), got {value!r}")
        return value

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid_shape(cls, value: str | None) -> str | None:
        if value is not None and not TWILIO_SERVICE_SID.fullmatch(value):
            raise ValueError(f"must be a Messaging Service SID (MG and 32 hex digits), got {value!r}")
        return value

    @field_validator("twilio_from")
    @classmethod
    def _whatsapp_address(cls, value: str | None) -> str | None:
        return None if value is None else whatsapp_address(value)

    @field_validator("graph_version")
    @classmethod
    def _graph_version_shape(cls, value: str) -> str:
        if not re.fullmatch(r"v\d+\.\d+", value):
            raise ValueError(f"must look like v25.0, got {value!r}")
        return value

    @field_validator("frame_ancestors")
    @classmethod
    def _frame_ancestors_sources(cls, value: str) -> str:
        sources = value.split()
        if not sources:
            raise ValueError("give 'none', 'self' or origins such as https://erp.example.com")
        for source in sources:
            if not _FRAME_SOURCE.fullmatch(source):
                raise ValueError(f"{source!r} is not 'none', 'self' or an origin such as https://erp.example.com")
        if "'none'" in sources and len(sources) > 1:
            raise ValueError("'none' stands alone")
        return " ".join(sources)

    @field_validator("log_level")
    @classmethod
    def _log_level_known(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {value!r}")
        return level

    @field_validator("phone_number_id", "waba_id")
    @classmethod
    def _numeric_id(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError(f"must be Meta's numeric id, got {value!r}")
        return value

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'wahub.db').as_posix()}"
        scheme = self.database_url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in DATABASE_SCHEMES:
            raise _named("database_url", f"must start with sqlite:// or postgresql://, got {scheme}://")
        if not self.storage_url:
            self.storage_url = f"file://{(self.data_dir / 'media').resolve().as_posix()}"
        storage_scheme = self.storage_url.split("://", 1)[0] if "://" in self.storage_url else ""
        if storage_scheme not in STORAGE_SCHEMES:
            raise _named("storage_url", f"scheme must be one of {', '.join(STORAGE_SCHEMES)}")
        if self.phone_number_id:
            for name in ("access_token", "app_secret"):
                if getattr(self, name) is None:
                    raise _named(name, "required when WAHUB_PHONE_NUMBER_ID is set")
            if self.secret_key is None:
                raise _named("secret_key", "required when an account is configured (it encrypts credentials)")
        if self.twilio_account_sid:
            for name in ("twilio_auth_token", "twilio_from", "public_url"):
                if getattr(self, name) is None:
                    raise _named(name, "required when WAHUB_TWILIO_ACCOUNT_SID is set")
            if self.secret_key is None:
                raise _named("secret_key", "required when an account is configured (it encrypts credentials)")
        return self

    @property
    def sandbox(self) -> bool:
        """True when no real account is configured: wahub then runs against the built-in fakegraph."""
        return not self.phone_number_id and not self.twilio_account_sid


class _NamedError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{ENV_PREFIX}{field.upper()}: {problem}")


def _named(field: str, problem: str) -> _NamedError:
    return _NamedError(field, problem)


def load(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` are CLI flags (``None`` means "not given"). Raises SettingsError."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(part) for part in err.get("loc", ())]
    message = str(err.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if message.startswith(ENV_PREFIX):
        return message
    name = f"{ENV_PREFIX}{loc[0].upper()}" if loc else "settings"
    value = err.get("input")
    secret = any(word in name for word in ("TOKEN", "SECRET", "KEY"))
    shown = f" (got {value!r})" if isinstance(value, str | int | float) and loc and not secret else ""
    if repr(value) in message:  # the validator's message shows the value already
        shown = ""
    return f"{name}: {message}{shown}"
