"""The CLI's bad-input table (issue 14, tasks 3 and 5): every user error is one line on
stderr (and maybe a hint), exit status 1, never a traceback; a real bug is a short message
naming the log file that holds the traceback. Real databases on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.postgres import suite_host_port

pytestmark = pytest.mark.timeout(300)

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI points logging at CliRunner's captured stderr, which closes after the run."""
    yield
    configure_logging("info", "json")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "malformed.yaml").write_text("endpoints: [\n")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    (tmp_path / "unknown-section.yaml").write_text("webhooks: []\n")
    (tmp_path / "url-type.yaml").write_text("endpoints: [{name: crm, url: 5}]\n")
    (tmp_path / "timeout-type.yaml").write_text(
        "endpoints: [{name: crm, url: 'https://x.example.com', timeout_seconds: abc}]\n"
    )
    (tmp_path / "reeligibility.yaml").write_text(
        "flows:\n  - name: f\n    trigger: {event_types: [track]}\n"
        "    reeligibility: {mode: sometimes}\n    steps: [{id: a, map: []}]\n"
    )
    (tmp_path / "steps-type.yaml").write_text(
        "flows: [{name: f, trigger: {event_types: [track]}, steps: 7}]\n"
    )
    (tmp_path / "sync-connection.yaml").write_text(
        "syncs: [{name: s, connection: nowhere, direction: pull, object: leads}]\n"
    )
    (tmp_path / "sql-url.yaml").write_text(
        "connections: [{name: w, connector: sql, credentials: {url: 'redis://u:pw-zz@h/0'}}]\n"
    )
    (tmp_path / "sql-query.yaml").write_text(
        "connections: [{name: w, connector: sql, credentials: {url: 'sqlite:////nope.db'}}]\n"
        "syncs: [{name: s, connection: w, direction: pull, object: rows,"
        " config: {query: 'DELETE FROM t', cursor_column: u}}]\n"
    )
    (tmp_path / "dir.yaml").mkdir()
    return tmp_path


def _runner(
    database_url: str, secret_key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", secret_key)
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return _runner(database_url, generate_key(), monkeypatch, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_database(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> tuple[str, str]:
    """``(url, secret key)`` of one database per module and backend for the bad-input
    table: every row is refused (exit 1), so none stores what another could see."""
    return database_factory.new_url(str(request.param)), generate_key()


@pytest.fixture
def table_runner(
    shared_database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CliRunner:
    return _runner(*shared_database, monkeypatch, tmp_path)


# (arguments, what the one line says); {d} is the directory of the files above.
BAD_INPUTS: list[tuple[list[str], str]] = [
    (["endpoints", "pause", "crm"], "endpoint crm does not exist"),
    (["endpoints", "resume", "ep_nope"], "endpoint ep_nope does not exist"),
    (["endpoints", "show", "nope"], "endpoint nope does not exist"),
    (["endpoints", "delete", "nope"], "endpoint nope does not exist"),
    (["endpoints", "secret", "nope"], "endpoint nope does not exist"),
    (["endpoints", "rotate-secret", "nope"], "endpoint nope does not exist"),
    (["endpoints", "test", "nope", "-t", "x"], "endpoint nope does not exist"),
    (["endpoints", "create", "--name", "x", "--url", "ftp://x"], "url must be"),
    # The CLI refuses what the API refuses: a private target without RENKEI_ALLOW_PRIVATE_TARGETS.
    (["endpoints", "create", "--name", "x", "--url", "http://127.0.0.1:9/h"], "127.0.0.1"),
    (["recover", "--endpoint", "nope", "--since", "2020-01-01"], "endpoint nope does not exist"),
    (["recover", "--endpoint", "nope", "--since", "yesterday-ish"], "not a timestamp"),
    (["deliveries", "list", "--endpoint", "nope"], "endpoint nope does not exist"),
    (["deliveries", "resend", "dlv_nope"], "delivery dlv_nope does not exist"),
    (["events", "publish", "-t", "x", "--data", "{"], "--data is not JSON"),
    (["token", "create", "--name", "x", "--scope", "god"], "--scope must be one of"),
    (["token", "revoke", "nope"], "token nope does not exist"),
    (["sources", "show", "nope"], "source nope does not exist"),
    (["sources", "secret", "nope"], "source nope does not exist"),
    (["sources", "create", "--name", "x", "--kind", "pigeon"], "kind must be"),
    (["sources", "create", "--name", "x", "--plan-mode", "strict"], "plan_mode must be one of"),
    (["sources", "plan", "nope", "block"], "source nope does not exist"),
    (["violations", "--source", "nope"], "source nope does not exist"),
    (["sources", "create", "--name", "x", "--kind", "webhook", "--mapping", "[1]"], "JSON object"),
    (["sources", "presets", "paypal"], "preset paypal does not exist"),
    (["sources", "create", "--name", "x", "--preset", "paypal"], "presets: braze_currents"),
    (["sources", "create", "--name", "x", "--preset", "stripe"], "needs secret"),
    (
        ["sources", "create", "--name", "x", "--preset", "stripe", "--setting", "secret"],
        "NAME=VALUE",
    ),
    (["flows", "show", "nope"], "nope"),
    (["flows", "disable", "nope"], "nope"),
    (["flows", "validate", "-f", str(README)], "not valid YAML"),
    (["flows", "validate", "-f", "{d}/missing.yaml"], "no such file"),
    (["syncs", "quota", "nope"], "connection nope does not exist"),
    (["syncs", "run", "nope"], "nope"),
    (["syncs", "runs", "nope"], "nope"),
    (["connections", "show", "nope"], "nope"),
    (["connections", "connect", "nope"], "RENKEI_PUBLIC_URL"),  # no public URL in these tests
    (["apply", "-f", "{d}/malformed.yaml"], "not valid YAML"),
    (["apply", "-f", str(README)], "not valid YAML"),
    (["apply", "-f", "{d}/binary.yaml"], "not a text file"),
    (["apply", "-f", "{d}/missing.yaml"], "no such file"),
    (["apply", "-f", "{d}/dir.yaml"], "is a directory"),
    (["apply", "-f", "{d}/list.yaml"], "top level must be a mapping"),
    (["apply", "-f", "{d}/unknown-section.yaml"], "unknown section(s) webhooks"),
    (["apply", "-f", "{d}/url-type.yaml"], "endpoints.crm: url must be a string"),
    (["apply", "-f", "{d}/timeout-type.yaml"], "endpoints.crm:"),
    (["apply", "-f", "{d}/reeligibility.yaml"], "flows.f: reeligibility"),
    (["apply", "-f", "{d}/steps-type.yaml"], "flows.f:"),
    (["apply", "-f", "{d}/sync-connection.yaml"], "syncs.s: connection 'nowhere' not found"),
    (["apply", "-f", "{d}/sql-url.yaml"], "unsupported database scheme 'redis'"),
    (["apply", "-f", "{d}/sql-query.yaml"], "syncs.s: config.query: only SELECT"),
    (["plan", "-f", "{d}/reeligibility.yaml"], "flows.f: reeligibility"),
    (["plan", "-f", "{d}/sync-connection.yaml"], "syncs.s: connection 'nowhere' not found"),
    (["plan", "-f", "{d}/url-type.yaml"], "endpoints.crm: url must be a string"),
    (["connectors", "show", "nope"], "unknown connector 'nope'"),
    (["privacy", "delete", "--profile", "prof_nope"], "profile prof_nope does not exist"),
    (["privacy", "delete"], "give exactly one of profile_id, user_id, email"),
    (["privacy", "delete", "--email", "a@b.c", "--events", "shred"], "--events is delete or"),
    (["privacy", "status", "prq_nope"], "privacy request prq_nope does not exist"),
    (["privacy", "suppress", "x", "--kind", "phone"], "kind must be one of"),
    (["privacy", "lift", "sup_nope"], "suppression sup_nope does not exist"),
    (["privacy", "export", "prof_nope"], "profile prof_nope does not exist"),
    (["secrets", "delete", "nope"], "secret nope does not exist"),
    (["secrets", "set", "Bad-Name", "--from-env", "HOME"], "a secret's name is lower-case"),
    (["secrets", "set", "x", "--from-env", "RENKEI_T_UNSET"], "RENKEI_T_UNSET is not set"),
    (["secrets", "set", "x"], "no value"),  # nothing on stdin
    (["secrets", "set", "x", "extra-value"], "Got unexpected extra argument"),
    # Usage errors too: one line and a hint instead of a usage box.
    (["apply"], "Missing option '-f' / '--file'"),
    (["endpoints", "pause"], "Missing argument"),
    (["endpoints", "pausee", "crm"], "No such command 'pausee'"),
    (["nope"], "No such command 'nope'"),
    (["deliveries", "list", "--limit", "many"], "Invalid value for '--limit'"),
    (["serve", "--processes", "0"], "Invalid value for '--processes'"),
    (["serve", "--processes", "many"], "Invalid value for '--processes'"),
]


@pytest.mark.parametrize(
    ("arguments", "message"),
    BAD_INPUTS,
    ids=[" ".join(a).replace(str(README), "README.md").replace("{d}/", "") for a, _ in BAD_INPUTS],
)
def test_bad_input_is_one_line_and_exit_1(
    table_runner: CliRunner, files: Path, arguments: list[str], message: str
) -> None:
    result = table_runner.invoke(
        app, [argument.replace("{d}", str(files)) for argument in arguments]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], result.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), result.stderr
    assert result.stdout == ""


def test_a_bug_is_a_short_message_and_the_traceback_goes_to_a_log(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    """A corrupt row (a number where the event types list belongs) is not the user's input:
    the CLI says where the traceback is instead of printing it."""
    import asyncio

    from sqlalchemy import text

    from renkei.store import Database

    created = ["endpoints", "create", "--name", "crm", "--url", "https://x.example.com"]
    assert runner.invoke(app, created).exit_code == 0

    async def corrupt() -> None:
        database = Database(database_url)
        try:
            async with database.transaction() as tx:
                await tx.execute(text("UPDATE endpoints SET event_types = '5'"))
        finally:
            await database.dispose()

    asyncio.run(corrupt())
    result = runner.invoke(app, ["endpoints", "list"])
    log = tmp_path / "state" / "renkei" / "cli-errors.log"
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unexpected "), result.stderr
    assert str(log) in lines[0]
    assert "Traceback" in log.read_text()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db.example.com/renkei", "unsupported database 'mysql'"),
        ("postgresql://postgres@{suite}/renkei_no_such_db", "does not exist"),
        ("postgresql://postgres@127.0.0.1:1/renkei", "cannot use the database"),
    ],
    ids=["unsupported", "no-such-database", "refused"],
)
def test_a_bad_database_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, message: str
) -> None:
    monkeypatch.setenv("RENKEI_DATABASE_URL", url.replace("{suite}", suite_host_port()))
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    result = CliRunner().invoke(app, ["endpoints", "list"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: "), result.stderr
