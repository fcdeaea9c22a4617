"""The ``sql`` connector over the management API and at the database: its URL is a secret
(422 when it is no database URL, never shown back), "Test connection" answers for a live,
a missing and an unreachable database without a 500, and a connection is read-only at the
database itself, even for a statement that got past the SELECT check."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from renkei.hub import Hub
from renkei.store import external
from renkei.store.external import ExternalDatabaseError, parse_external_url, single_select
from tests.support.postgres import suite_admin_url
from tests.support.server import admin_client, running_hub

from .sql_sources import SOURCES, source_database

pytestmark = pytest.mark.timeout(120)

PASSWORD = "s3cret-pass-zz"


@pytest.fixture
def served(database_url: str) -> object:
    with running_hub(database_url, with_worker=False) as (base_url, hub):
        yield base_url, hub


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not a URL"),
        (f"oracle://scott:{PASSWORD}@127.0.0.1/orcl", "unsupported database scheme 'oracle'"),
        (f"postgresql://app:{PASSWORD}@/nodb", "needs a host and a database name"),
        (f"mysql://app:{PASSWORD}@127.0.0.1:3306", "needs a host and a database name"),
        ("sqlite://", "needs the path of an existing file"),
        ("sqlite:///:memory:", "needs the path of an existing file"),
    ],
)
def test_a_url_that_is_no_database_url_is_a_422_that_never_shows_it(
    served: tuple[str, Hub], url: str, says: str
) -> None:
    base_url, _ = served
    with admin_client(base_url) as api:
        response = api.post(
            "/api/v1/connections",
            json={"name": "warehouse", "connector": "sql", "credentials": {"url": url}},
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert says in error["message"], error
        assert PASSWORD not in response.text
        assert api.get("/api/v1/connections").json()["data"] == []


def test_test_connection_answers_for_live_missing_and_unreachable_databases(
    served: tuple[str, Hub], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base_url, _ = served
    sqlite_file = tmp_path / "live.db"
    sqlite_file.touch()
    cases = {
        "live-pg": (suite_admin_url(), True, None),
        "live-mariadb": ("mysql://root:@127.0.0.1:3306/test", True, None),
        "live-file": (f"sqlite:///{sqlite_file}", True, None),
        "gone-file": (f"sqlite:///{tmp_path / 'missing.db'}", False, "unable to open"),
        "closed-port": (
            f"postgresql://app:{PASSWORD}@127.0.0.1:{closed_port()}/db",
            False,
            "cannot connect to the postgresql database",
        ),
        "bad-password": (
            f"mysql://nobody:{PASSWORD}@127.0.0.1:3306/test",
            False,
            "Access denied",
        ),
    }
    with admin_client(base_url) as api:
        for name, (url, ok, says) in cases.items():
            created = api.post(
                "/api/v1/connections",
                json={"name": name, "connector": "sql", "credentials": {"url": url}},
            )
            assert created.status_code == 201, created.text
            assert PASSWORD not in created.text
            outcome = api.post(f"/api/v1/connections/{name}/test")
            assert outcome.status_code == 200, outcome.text
            body = outcome.json()
            assert body["ok"] is ok, (name, body)
            if ok:
                assert body["details"]["read_only"] is True
            else:
                assert body["error"]["code"] == "unreachable", body
                assert says in body["error"]["message"], body
            assert PASSWORD not in outcome.text
        listing = api.get("/api/v1/connections")
        assert listing.status_code == 200
        assert PASSWORD not in listing.text and "postgresql://" not in listing.text
        one = api.get("/api/v1/connections/closed-port")
        assert PASSWORD not in one.text
    logged = capfd.readouterr()
    assert PASSWORD not in logged.out + logged.err


@pytest.mark.parametrize("kind", SOURCES)
async def test_a_connection_is_read_only_at_the_database(kind: str, tmp_path: Path) -> None:
    async with source_database(kind, tmp_path) as source:
        await source.run("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
        target = parse_external_url(source.url)
        # Straight through the read-only connection, past the SELECT check.
        async with external._read_only(target, 10.0) as connection:
            with pytest.raises(Exception, match=r"(?i)read.only|readonly"):
                await connection.execute(text("INSERT INTO kept (id) VALUES (1)"))
        assert await source.scalar("SELECT count(*) FROM kept") == 0
        rows = await external.read_rows(
            target,
            "SELECT id, id AS at FROM kept",
            cursor_column="at",
            id_column="id",
            after=None,
            limit=10,
        )
        assert rows == []


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("SELECT * FROM t", None),
        ("  with x as (select 1 as id) select * from x;  ", None),
        ("SELECT 'DELETE FROM t; --' AS s, last_update, created_at FROM t", None),
        ("select * from t -- drop table t", None),
        ("DELETE FROM t", "only SELECT"),
        ("UPDATE t SET a = 1", "only SELECT"),
        ("SELECT 1; SELECT 2", "single statement"),
        ("SELECT * FROM t FOR UPDATE", "UPDATE is not allowed"),
        ("SELECT * INTO OUTFILE '/tmp/x' FROM t", "INTO is not allowed"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE is not allowed"),
        ("SELECT pg_sleep(1); COMMIT", "single statement"),
        ("", "empty"),
        ("/* only a comment */", "empty"),
    ],
)
def test_only_one_select_is_run(query: str, refused: str | None) -> None:
    if refused is None:
        assert single_select(query)
        return
    with pytest.raises(ExternalDatabaseError, match=refused) as raised:
        single_select(query)
    assert raised.value.kind == "refused"


async def test_a_query_error_names_the_problem_without_the_password() -> None:
    target = parse_external_url(suite_admin_url())
    with pytest.raises(ExternalDatabaseError) as raised:
        await external.read_rows(
            target,
            "SELECT 1 AS id FROM no_such_table_zz",
            cursor_column="id",
            id_column="id",
            after=None,
            limit=1,
        )
    assert raised.value.kind == "query"
    assert "no_such_table_zz" in raised.value.message
