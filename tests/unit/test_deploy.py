"""docs/deploy.md and the files it names (deploy/): every setting they name is one of wahub's, every command they
run parses as wahub's CLI reads it, the systemd units pass ``systemd-analyze verify``, the Dockerfile copies what
exists and starts wahub, and the metrics the guide says to watch are the ones ``/metrics`` writes. The topology
itself runs in tests/acceptance/test_topology.py."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from wahub import cli, config
from wahub.store import counters, db

ROOT = Path(__file__).parent.parent.parent
GUIDE = ROOT / "docs" / "deploy.md"
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SETTINGS = {f"{config.ENV_PREFIX}{name.upper()}" for name in config.Settings.model_fields}
SETTING_NAME = re.compile(r"\bWAHUB_[A-Z0-9_]+\b")


def parse_cli(argv: list[str]) -> Any:
    """``argv`` (after ``wahub``) parsed by wahub's CLI as it would run it, without running it (the context of
    the command it names): a wrong command, option or value raises the CLI's usage error."""
    group: Any = typer.main.get_command(cli.app)
    ctx = group.make_context("wahub", list(argv))
    while hasattr(group, "resolve_command"):  # a group: the next word names its command
        name, command, rest = group.resolve_command(ctx, [*getattr(ctx, "_protected_args", []), *ctx.args])
        assert command is not None, f"no command {name!r} in {argv}"
        ctx = command.make_context(name, rest, parent=ctx)
        group = command
    return ctx


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_every_setting_the_guide_and_its_files_name_is_a_wahub_setting() -> None:
    files = [GUIDE, DEPLOY / "compose.yaml", DEPLOY / "wahub.env.example", DEPLOY / "Dockerfile", *UNITS]
    named = {(f.name, n) for f in files for n in SETTING_NAME.findall(f.read_text())}
    assert {n for _f, n in named} >= {"WAHUB_DATABASE_URL", "WAHUB_SECRET_KEY", "WAHUB_STORAGE_URL"}
    unknown = sorted((f, n) for f, n in named if n not in SETTINGS)
    assert not unknown, f"not settings of wahub (config.Settings): {unknown}"


def test_the_example_environment_is_settings_wahub_accepts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env or wahub.toml of the checkout's
    for name in [n for n in os.environ if n.startswith(config.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    values = {}
    for line in (DEPLOY / "wahub.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
            monkeypatch.setenv(name, value)
    settings = config.load()
    assert settings.database_url == values["WAHUB_DATABASE_URL"] and not settings.sandbox


def test_the_compose_file_runs_postgresql_the_upgrade_and_web_and_worker_processes() -> None:
    spec = compose()
    services = spec["services"]
    assert set(services) == {"postgres", "migrate", "web", "worker"}
    assert parse_cli(services["migrate"]["command"]).command.name == "upgrade"
    assert parse_cli(services["web"]["command"]).params["role"] == "web"
    assert parse_cli(services["worker"]["command"]).params["role"] == "worker"
    for name in ("migrate", "web", "worker"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        url = service["environment"]["WAHUB_DATABASE_URL"]
        user, password = services["postgres"]["environment"]["POSTGRES_USER"], "wahub"
        assert (
            url == f"postgresql://{user}:{password}@postgres:5432/{services['postgres']['environment']['POSTGRES_DB']}"
        )
        assert service["volumes"] == ["wahub-data:/data"] and service["environment"]["WAHUB_DATA_DIR"] == "/data"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert services[name]["deploy"]["replicas"] >= 2
    port = parse_cli(services["web"]["command"]).params["port"]
    assert all(mapping.endswith(f":{port}") for mapping in services["web"]["ports"])
    assert set(spec["volumes"]) == {"postgres-data", "wahub-data"}


def test_every_file_wahub_reads_at_run_time_is_in_its_package() -> None:
    """The image (and any ``pip install``) holds what ``[tool.setuptools.package-data]`` names besides the
    modules: a template or static file missing there is missing in production only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package = ROOT / "src" / "wahub"
    covered = {p for pattern in project["tool"]["setuptools"]["package-data"]["wahub"] for p in package.glob(pattern)}
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert not sorted(str(p.relative_to(package)) for p in data - covered), "not in pyproject's package-data"


def test_the_dockerfile_copies_what_exists_and_its_entrypoint_is_wahub() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    instructions = [line.split(None, 1) for line in lines if line.strip() and not line.startswith("#")]
    known = {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}
    assert instructions[0][0] == "FROM" and all(word in known for word, _rest in instructions)
    for word, rest in instructions:
        if word == "COPY":
            *sources, _target = rest.split()
            assert all((ROOT / s).exists() for s in sources), rest
    found = {word: rest for word, rest in instructions}
    assert json.loads(found["ENTRYPOINT"]) == ["wahub"]
    project = (ROOT / "pyproject.toml").read_text()
    assert 'wahub = "wahub.cli:main"' in project  # the console script pip install puts on PATH
    cmd = json.loads(found["CMD"])
    assert parse_cli(cmd).params["port"] == int(found["EXPOSE"])
    python = re.match(r"python:(\d+\.\d+)", found["FROM"])
    minimum = re.search(r'requires-python = ">=(\d+\.\d+)"', project)
    assert python and minimum and tuple(map(int, python[1].split("."))) >= tuple(map(int, minimum[1].split(".")))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_the_systemd_units_run_wahub_commands_that_parse() -> None:
    roles = {}
    for path in UNITS:
        service = unit(path)["Service"]
        argv = shlex.split(service["ExecStart"].replace("%i", "8000"))
        assert argv[0] == "/opt/wahub/bin/wahub" and service["EnvironmentFile"] == "/etc/wahub/wahub.env"
        ctx = parse_cli(argv[1:])
        roles[path.name] = ctx.params.get("role", ctx.command.name)
    assert roles == {"wahub-migrate.service": "upgrade", "wahub-web@.service": "web", "wahub-worker@.service": "worker"}
    for name in ("wahub-web@.service", "wahub-worker@.service"):
        assert "wahub-migrate.service" in unit(DEPLOY / "systemd" / name)["Unit"]["Requires"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verified as instances (``@8000``, ``@1``), with wahub at this venv's path: verify checks that the command
    exists, and /opt/wahub is where a deployment puts it, not this machine."""
    wahub = Path(sys.executable).with_name("wahub")
    assert wahub.exists()
    names = []
    for path in UNITS:
        name = path.name.replace("@.", "@8000." if "web" in path.name else "@1.")
        (tmp_path / name).write_text(path.read_text().replace("/opt/wahub/bin/wahub", str(wahub)))
        names.append(str(tmp_path / name))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if str(tmp_path) in line or "wahub" in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


def test_the_metrics_the_guide_names_are_the_ones_metrics_writes() -> None:
    source = (ROOT / "src" / "wahub" / "api" / "prometheus.py").read_text()
    written = set(counters.FAMILIES) | set(re.findall(r'"(wahub_[a-z_]+)"', source))
    named = set(re.findall(r"`(wahub_[a-z_]+)", GUIDE.read_text()))
    assert len(named) >= 10
    assert named <= written, f"not metrics of wahub: {sorted(named - written)}"


def test_the_connections_per_process_are_what_the_guide_says() -> None:
    engine = db.create_engine("postgresql://wahub@127.0.0.1:1/wahub")  # not connected: only the pool is read
    pool: Any = engine.sync_engine.pool
    assert (pool.size(), pool._max_overflow) == (10, 10)
    assert "up to 20 pooled connections (`pool_size=10, max_overflow=10`" in GUIDE.read_text()


def test_the_guide_commands_parse() -> None:
    """Each ``wahub …`` command in backquotes in the guide is one the CLI takes."""
    found = re.findall(r"`(wahub [^`]+)`", GUIDE.read_text())
    commands = [shlex.split(c) for c in found if not c.startswith(("wahub-", "wahub_"))]
    assert ["wahub", "db", "upgrade"] in commands
    for argv in commands:
        if argv[1:] and not argv[-1].endswith("…"):
            parse_cli(argv[1:])
