"""``renkei keys rotate``: re-encrypt every stored secret under the newest key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, select, update

from renkei.security.keyring import Keyring
from renkei.store.database import Database
from renkei.store.tables import metadata
from renkei.store.types import Ciphertext


@dataclass(frozen=True)
class RotationReport:
    rewritten: int
    tables: dict[str, int]


def encrypted_columns() -> list[tuple[Table, str]]:
    return [
        (table, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Ciphertext)
    ]


async def rotate_keys(
    database: Database,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    columns: list[tuple[Table, str]] | None = None,
) -> RotationReport:
    """Decrypt with whichever key sealed a value; seal again with the current key.

    Values are bound to their column as associated data (``table.column``), which is how
    every service encrypts them.
    """
    counts: dict[str, int] = {}
    for table, column_name in columns if columns is not None else encrypted_columns():
        primary_key = next(iter(table.primary_key.columns))
        column = table.c[column_name]
        context = f"{table.name}.{column_name}"
        async with database.transaction() as connection:
            rows = (
                await connection.execute(select(primary_key, column).where(column.is_not(None)))
            ).all()
            stale = [(pk, value) for pk, value in rows if keyring.needs_rotation(value)]
            for start in range(0, len(stale), batch_size):
                for pk, value in stale[start : start + batch_size]:
                    plaintext = keyring.decrypt(value, context=context)
                    await connection.execute(
                        update(table)
                        .where(primary_key == pk)
                        .values({column_name: keyring.encrypt(plaintext, context=context)})
                    )
        counts[context] = len(stale)
    return RotationReport(sum(counts.values()), counts)
