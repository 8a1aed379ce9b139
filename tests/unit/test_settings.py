import subprocess
import sys

import pytest

from wahub import config, errors
from wahub.store.crypto import Vault


def test_defaults_are_the_sandbox_in_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = config.load()
    assert settings.sandbox
    assert settings.database_url == "sqlite:///wahub-data/wahub.db"
    assert settings.storage_url.startswith("file://") and settings.storage_url.endswith("/wahub-data/media")
    assert settings.send_rate == 80
    assert settings.send_jitter_ms == 20
    assert settings.graph_version == "v25.0"
    assert settings.raw_event_days == 30


def test_flags_beat_environment_which_beats_toml(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wahub.toml").write_text('send_rate = 10\ngraph_version = "v26.0"\n')
    assert config.load().send_rate == 10
    monkeypatch.setenv("WAHUB_SEND_RATE", "20")
    assert config.load().send_rate == 20
    assert config.load(send_rate=30).send_rate == 30
    assert config.load().graph_version == "v26.0"


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("WAHUB_SEND_RATE", "fast", "WAHUB_SEND_RATE"),
        ("WAHUB_SEND_RATE", "5000", "WAHUB_SEND_RATE"),
        ("WAHUB_SEND_JITTER_MS", "-1", "WAHUB_SEND_JITTER_MS"),
        ("WAHUB_SEND_JITTER_MS", "2000", "WAHUB_SEND_JITTER_MS"),
        ("WAHUB_RAW_EVENT_DAYS", "-1", "WAHUB_RAW_EVENT_DAYS"),
        ("WAHUB_RAW_EVENT_DAYS", "a month", "WAHUB_RAW_EVENT_DAYS"),
        ("WAHUB_GRAPH_VERSION", "25", "WAHUB_GRAPH_VERSION"),
        ("WAHUB_DATABASE_URL", "mysql://x", "WAHUB_DATABASE_URL"),
        ("WAHUB_STORAGE_URL", "ftp://x", "WAHUB_STORAGE_URL"),
        ("WAHUB_PHONE_NUMBER_ID", "abc", "WAHUB_PHONE_NUMBER_ID"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path, env: str, value: str, fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(env, value)
    with pytest.raises(config.SettingsError) as info:
        config.load()
    message = str(info.value)
    assert message.startswith(fragment + ":")
    assert "\n" not in message


def test_an_account_needs_its_token_secret_and_the_secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAHUB_PHONE_NUMBER_ID", "123")
    with pytest.raises(config.SettingsError, match="WAHUB_ACCESS_TOKEN"):
        config.load()
    monkeypatch.setenv("WAHUB_ACCESS_TOKEN", "t")
    monkeypatch.setenv("WAHUB_APP_SECRET", "s")
    with pytest.raises(config.SettingsError, match="WAHUB_SECRET_KEY"):
        config.load()
    monkeypatch.setenv("WAHUB_SECRET_KEY", "k" * 32)
    assert not config.load().sandbox


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WAHUB_SEND_RATE", "-3", "WAHUB_SEND_RATE"),
        ("WAHUB_STORAGE_URL", "sharepoint://contoso/media", "WAHUB_STORAGE_URL"),
        ("WAHUB_STORAGE_URL", "s3:///no-bucket", "names its bucket"),
    ],
)
def test_serve_with_a_bad_setting_exits_2_with_one_line_and_no_traceback(
    tmp_path, name: str, value: str, says: str
) -> None:
    env = {name: value, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "wahub", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert "Traceback" not in result.stderr


def test_vault_round_trips_and_refuses_another_key() -> None:
    token = Vault("a" * 32).encrypt({"access_token": "EAAG-secret"})
    assert b"EAAG-secret" not in token
    assert Vault("a" * 32).decrypt(token) == {"access_token": "EAAG-secret"}
    with pytest.raises(errors.InvalidInput):
        Vault("b" * 32).decrypt(token)


def test_a_bad_value_is_shown_once(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAHUB_LOG_LEVEL", "LOUD")
    with pytest.raises(config.SettingsError) as info:
        config.load()
    assert str(info.value) == "WAHUB_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"
    monkeypatch.setenv("WAHUB_LOG_LEVEL", "INFO")
    monkeypatch.setenv("WAHUB_SEND_RATE", "fast")
    with pytest.raises(config.SettingsError) as info:
        config.load()
    assert str(info.value).count("'fast'") == 1, info.value


def test_a_twilio_account_in_the_settings_needs_its_token_sender_and_public_url() -> None:
    sid = "AC" + "0" * 32
    with pytest.raises(config.SettingsError, match="WAHUB_TWILIO_AUTH_TOKEN: required"):
        config.load(twilio_account_sid=sid, secret_key="k" * 20)
    with pytest.raises(config.SettingsError, match="WAHUB_PUBLIC_URL: required"):
        config.load(twilio_account_sid=sid, twilio_auth_token="t", twilio_from="+14155238886", secret_key="k" * 20)
    with pytest.raises(config.SettingsError, match="WAHUB_TWILIO_ACCOUNT_SID: must be Twilio's Account SID"):
        config.load(twilio_account_sid="AC12")
    with pytest.raises(config.SettingsError, match="WAHUB_TWILIO_FROM: must be a WhatsApp sender"):
        config.load(twilio_from="whatsapp:abc")
    settings = config.load(
        twilio_account_sid=sid,
        twilio_auth_token="t",
        twilio_from="14155238886",
        public_url="https://hub.example.com/",
        secret_key="k" * 20,
    )
    assert settings.twilio_from == "whatsapp:+14155238886" and settings.public_url == "https://hub.example.com"
