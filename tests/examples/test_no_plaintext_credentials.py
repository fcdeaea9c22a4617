"""Every example applied (as the example tests apply them) into one database, a flow sent
through its named secret: no credential is found in the raw database (every row, and on
SQLite the bytes of the files, WAL included), in the flows' API answers or in the logs."""

from __future__ import annotations

import re
import secrets

import pytest

from renkei.store import Database
from tests.examples.harness import EXAMPLES, playbook, sandboxes
from tests.support.rawscan import assert_not_in_files, dump_all_rows

pytestmark = pytest.mark.timeout(180)

_ENV = re.compile(r"\$\{env:([A-Z0-9_]+)\}")
_CREDENTIAL = re.compile(r"(KEY|TOKEN|SECRET|AUTH|PASSWORD|WEBHOOK_URL|DATABASE_URL)")


def _environment(mailchimp_api: str, mailchimp_list: str, mailchimp_key: str) -> dict[str, str]:
    """A value for every ``${env:...}`` of every example: credentials distinctive and
    random (so finding one anywhere means it leaked), URLs on loopback."""
    names = sorted(
        {name for path in EXAMPLES.glob("*/renkei.yaml") for name in _ENV.findall(path.read_text())}
    )
    env: dict[str, str] = {}
    for name in names:
        if name == "SLACK_WEBHOOK_URL":
            env[name] = f"http://127.0.0.1:9/services/T0/B0/{secrets.token_hex(12)}"
        elif name.endswith("DATABASE_URL"):  # the sql connector's URL holds its password
            env[name] = f"postgresql://renkei:cred{secrets.token_hex(12)}@127.0.0.1:9/shop"
        elif _CREDENTIAL.search(name):
            env[name] = f"cred{secrets.token_hex(12)}"
        else:
            env[name] = "http://127.0.0.1:9"
    env.update(
        MAILCHIMP_API=mailchimp_api, MAILCHIMP_LIST=mailchimp_list, MAILCHIMP_API_KEY=mailchimp_key
    )
    return env


async def test_no_example_stores_or_logs_a_credential(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "mailchimp") as found:
            mailchimp, base = found["mailchimp"]
            env = _environment(f"{base}/3.0", mailchimp.config.lists[0], mailchimp.config.api_key)
            credentials = [value for name, value in env.items() if _CREDENTIAL.search(name)]
            assert mailchimp.config.api_key in credentials
            examples = sorted(path.parent.name for path in EXAMPLES.glob("*/renkei.yaml"))
            assert len(examples) >= 9
            for example in examples:
                await book.apply(example, env)

            # The secret is read at send time: the request reached Mailchimp with the key.
            book.publish("form.submitted", {"email": "ann@example.com", "consent": "yes"})
            await book.run()
            member = mailchimp.member("ann@example.com")
            assert member is not None and "welcome-series" in member.tags
            assert book.statuses("form-contact-to-mailchimp") == ["succeeded"]

            answers = [
                book.api.get("/api/v1/flows", params={"limit": 500}).text,
                book.api.get("/api/v1/secrets").text,
                book.api.get("/api/v1/audit", params={"limit": 500}).text,
                book.api.get(
                    f"/api/v1/flows/{book.flow_id('form-contact-to-mailchimp')}/runs"
                ).text,
            ]
            listed = book.api.get("/api/v1/secrets").json()["data"]

        database = Database(database_url)
        try:
            dump = await dump_all_rows(database)
        finally:
            await database.dispose()
        logs = capsys.readouterr()
        for credential in credentials:
            assert credential not in dump, "a credential is stored in plaintext"
            assert credential not in logs.out + logs.err, "a credential is in the logs"
            assert all(credential not in answer for answer in answers), "an API answer shows it"
        assert_not_in_files(database_url, *credentials)
        assert {"mailchimp_api_key", "klaviyo_api_key"} <= {s["name"] for s in listed}
        assert all("value" not in s for s in listed)
