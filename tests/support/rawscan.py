"""Read every row of every table as text, to prove a secret is not stored in plaintext."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from renkei.store import Database


async def dump_all_rows(database: Database) -> str:
    async with database.read() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        chunks = []
        for table in tables:
            rows = await connection.execute(text(f'SELECT * FROM "{table}"'))
            chunks.extend(repr(tuple(row)) for row in rows)
    return "\n".join(chunks)


async def assert_not_stored(database: Database, *secrets: str) -> None:
    dump = await dump_all_rows(database)
    for secret in secrets:
        assert secret not in dump, "a secret is stored in plaintext"


def sqlite_files(database_url: str) -> list[Path]:
    """The files of a SQLite database (main file, WAL, shared memory, journal); [] otherwise."""
    if not database_url.startswith("sqlite"):
        return []
    main = Path(database_url.split(":///", 1)[1])
    suffixes = ("", "-wal", "-shm", "-journal")
    return [Path(f"{main}{suffix}") for suffix in suffixes if Path(f"{main}{suffix}").exists()]


def assert_not_in_files(database_url: str, *secrets: str) -> None:
    """Grep the raw bytes of a SQLite database's files, WAL included (free pages too)."""
    for path in sqlite_files(database_url):
        raw = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in raw, f"a secret is stored in plaintext in {path.name}"
