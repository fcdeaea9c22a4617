from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select

from renkei.security.keyring import Keyring, KeyringError, generate_key, load_keyring
from renkei.security.rotation import rotate_keys
from renkei.store import Database
from renkei.store.types import Ciphertext
from tests.support.rawscan import assert_not_stored


def test_round_trip_and_associated_data() -> None:
    keyring = Keyring([generate_key()])
    sealed = keyring.encrypt("whsec_topsecret", context="endpoints.secret")
    assert "topsecret" not in sealed
    assert keyring.decrypt(sealed, context="endpoints.secret") == "whsec_topsecret"
    with pytest.raises(KeyringError):
        keyring.decrypt(sealed, context="connections.credentials")


def test_tampering_is_detected() -> None:
    keyring = Keyring([generate_key()])
    sealed = keyring.encrypt("hello")
    version, kid, body = sealed.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(KeyringError):
        keyring.decrypt(f"{version}.{kid}.{flipped}")


def test_every_configured_key_decrypts_and_the_first_encrypts() -> None:
    old, new = generate_key(), generate_key()
    sealed_with_old = Keyring([old]).encrypt("s3cret")
    keyring = Keyring([new, old])
    assert keyring.decrypt(sealed_with_old) == "s3cret"
    assert keyring.needs_rotation(sealed_with_old)
    assert not keyring.needs_rotation(keyring.encrypt("s3cret"))
    with pytest.raises(KeyringError, match="not configured"):
        Keyring([new]).decrypt(sealed_with_old)


@pytest.mark.parametrize("bad", ["", "not base64 !!", "c2hvcnQ"])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(KeyringError):
        Keyring([bad])


def test_key_file_is_generated_once_and_private(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "renkei-secret.key"
    first = load_keyring([], key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_keyring([], key_file).current_key_id == first.current_key_id
    configured = generate_key()
    assert load_keyring([configured], key_file).current_key_id != first.current_key_id


async def test_rotation_reencrypts_every_stored_secret(database: Database) -> None:
    metadata = MetaData()
    vault = Table(
        "test_vault",
        metadata,
        Column("id", String(10), primary_key=True),
        Column("secret", Ciphertext),
    )
    async with database.transaction() as tx:
        await tx.run_sync(metadata.create_all)
    old, new = generate_key(), generate_key()
    before = Keyring([old])
    plaintexts = {f"r{n}": f"api-key-{n}-plaintext" for n in range(5)}
    async with database.transaction() as tx:
        await tx.execute(
            insert(vault),
            [
                {"id": key, "secret": before.encrypt(value, context="test_vault.secret")}
                for key, value in plaintexts.items()
            ],
        )
    await assert_not_stored(database, *plaintexts.values())

    after = Keyring([new, old])
    report = await rotate_keys(database, after, columns=[(vault, "secret")])
    assert report.rewritten == 5
    only_new = Keyring([new])
    async with database.read() as connection:
        for row in await connection.execute(select(vault)):
            assert only_new.decrypt(row.secret, context="test_vault.secret") == plaintexts[row.id]
    assert (await rotate_keys(database, after, columns=[(vault, "secret")])).rewritten == 0


def test_a_key_file_keyring_reads_the_file_again_for_a_key_it_does_not_know(
    tmp_path: Path,
) -> None:
    """What keeps a running server working after `renkei keys rotate` (issue 14, task 15)."""
    key_file = tmp_path / "renkei-secret.key"
    keyring = load_keyring([], key_file)
    old = key_file.read_text().strip()
    new = generate_key()
    sealed_with_new = Keyring([new]).encrypt("s3cret", context="t.c")
    key_file.write_text(f"{new}\n{old}\n")
    assert keyring.decrypt(sealed_with_new, context="t.c") == "s3cret"
    assert keyring.current_key_id == Keyring([new]).current_key_id
    # Keys from RENKEI_SECRET_KEY cannot be read again: the error names the key.
    with pytest.raises(KeyringError, match="not configured"):
        load_keyring([old], key_file).decrypt(sealed_with_new, context="t.c")
