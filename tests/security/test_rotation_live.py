"""``renkei keys rotate`` while ``renkei serve`` runs (issue 14, task 15): the running
server keeps answering (it reads the key file again when it meets a key it does not know),
never a 500; servers that take their keys from RENKEI_SECRET_KEY cannot learn a new key,
so the rotation refuses with one line until told they were restarted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from renkei.security.keyring import generate_key
from tests.cli.test_data_dir import clean_env, cli, serving

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def admin_token(env: dict[str, str], cwd: Path) -> str:
    done = cli(env, cwd, "token", "create", "--name", "admin", "--scope", "admin")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_running_server_keeps_revealing_secrets_after_a_rotation(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    env = clean_env(tmp_path)
    with serving(env, project) as url:
        api = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token(env, project)}"}
        )
        created = api.post(
            "/api/v1/endpoints", json={"name": "crm", "url": "https://crm.example.com/h"}
        )
        assert created.status_code == 201, created.text
        secret_url = f"/api/v1/endpoints/{created.json()['id']}/secret"
        before = api.get(secret_url).json()["key"]

        # To a key the server does not have: given to the CLI only, new key first.
        old = (project / "renkei-secret.key").read_text().split()
        new = generate_key()
        rotated = cli(
            {**env, "RENKEI_SECRET_KEY": ",".join([new, *old])}, project, "keys", "rotate"
        )
        assert rotated.returncode == 0, rotated.stderr
        assert "1 re-encrypted" in rotated.stdout
        after = api.get(secret_url)
        assert after.status_code == 200, after.text  # was a 500
        assert after.json()["key"] == before
        assert (project / "renkei-secret.key").read_text().split() == [new, *old]

        # New secrets are sealed with the new key, and read back.
        second = api.post("/api/v1/endpoints", json={"name": "b", "url": "https://b.example.com"})
        assert second.status_code == 201, second.text
        assert api.get(f"/api/v1/endpoints/{second.json()['id']}/secret").status_code == 200

        # Without RENKEI_SECRET_KEY, `keys rotate` puts a new key first in the file itself.
        again = cli(env, project, "keys", "rotate")
        assert again.returncode == 0, again.stderr
        keys = (project / "renkei-secret.key").read_text().split()
        assert len(keys) == 3 and keys[1:] == [new, *old]
        assert api.get(secret_url).json()["key"] == before
        # The CLI reads the same file.
        shown = cli(env, tmp_path, "endpoints", "secret", "crm")
        assert shown.stdout.strip() == before, shown.stderr


def test_servers_on_the_environment_key_make_the_rotation_refuse(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    old = generate_key()
    env = {**clean_env(tmp_path), "RENKEI_DATA_DIR": str(data), "RENKEI_SECRET_KEY": old}
    assert cli(env, tmp_path, "migrate").returncode == 0
    assert not (data / "renkei-secret.key").exists()
    rotating = {**env, "RENKEI_SECRET_KEY": f"{generate_key()},{old}"}
    refused = cli(rotating, tmp_path, "keys", "rotate")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: servers that read RENKEI_SECRET_KEY cannot learn a new key while they run"
    ]
    assert "--servers-updated" in refused.stderr
    done = cli(rotating, tmp_path, "keys", "rotate", "--servers-updated")
    assert done.returncode == 0, done.stderr


def test_a_server_on_the_old_environment_key_answers_503_not_500(tmp_path: Path) -> None:
    """`keys rotate --servers-updated` run while a server still has only the old
    RENKEI_SECRET_KEY: revealing a secret sealed with the new key is a 503 telling what
    to do, with no secret or key in it, never a 500."""
    data = tmp_path / "data"
    data.mkdir()
    old, new = generate_key(), generate_key()
    env = {**clean_env(tmp_path), "RENKEI_DATA_DIR": str(data), "RENKEI_SECRET_KEY": old}
    with serving(env, tmp_path) as url:
        api = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token(env, tmp_path)}"}
        )
        created = api.post(
            "/api/v1/endpoints", json={"name": "crm", "url": "https://crm.example.com/h"}
        )
        assert created.status_code == 201, created.text
        secret_url = f"/api/v1/endpoints/{created.json()['id']}/secret"
        before = api.get(secret_url).json()["key"]

        rotating = {**env, "RENKEI_SECRET_KEY": f"{new},{old}"}
        done = cli(rotating, tmp_path, "keys", "rotate", "--servers-updated")
        assert done.returncode == 0, done.stderr

        after = api.get(secret_url)
        assert after.status_code == 503, after.text  # was a 500
        error = after.json()["error"]
        assert error["code"] == "secret_key_unavailable"
        assert "restart with the new RENKEI_SECRET_KEY" in error["message"]
        for material in (before, old, new):
            assert material not in after.text
        assert after.headers.get("Retry-After")
