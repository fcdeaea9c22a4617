"""Every message the dashboard shows is in every catalog: the templates' ``_()``/``t()``, the
pages' ``gettext(...)`` calls, and the messages kept in tables (navigation, statuses, test
outcomes, notices). A new language is a new catalog; this names what it still lacks."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from renkei.dashboard.diagram import STEP_KINDS
from renkei.dashboard.i18n import Catalogs
from renkei.dashboard.navigation import NAVIGATION
from renkei.dashboard.pages import connections, flows, syncs, webhooks
from renkei.store.tables.webhooks import DELIVERY_STATUSES

PACKAGE = Path(str(files("renkei.dashboard")))
KEYWORDS = {"_": None, "t": None, "gettext": None, "pgettext": ((1, "c"), 2)}
ENDPOINT_STATUSES = ("active", "paused", "disabled")
# Shown translated on the flows, syncs and connections pages: run and step statuses, a
# sync's direction and trigger, a connection's status.
FLOW_STATUSES = (
    "queued",
    "running",
    "waiting",
    "retrying",
    "succeeded",
    "stopped",
    "failed",
    "skipped",
)
SYNC_WORDS = ("pull", "push", "manual", "schedule", "realtime", "enabled", "disabled")
CONNECTION_STATUSES = ("active", "failing", "needs_reauth")


def used_messages() -> set[str]:
    found = {
        _key(context, str(message[0] if isinstance(message, tuple) else message))
        for _, _, message, _, context in extract_from_dir(
            PACKAGE,
            method_map=[("templates/**.html", "jinja2"), ("**.py", "python")],
            keywords=KEYWORDS,
        )
    }
    found |= {label for label, _ in NAVIGATION}
    found |= set(DELIVERY_STATUSES) | set(ENDPOINT_STATUSES)
    found |= set(webhooks.NOTICES.values()) | set(webhooks.MEANINGS.values())
    found |= set(flows.NOTICES.values()) | set(connections.NOTICES.values())
    found |= set(syncs.NOTICES.values()) | set(syncs.MODES.values()) | set(syncs.MODES)
    found |= {"trigger", *STEP_KINDS, *FLOW_STATUSES, *SYNC_WORDS, *CONNECTION_STATUSES}
    return found


def _key(context: str | None, text: str) -> str:
    """As the catalogs keep a message with a context (gettext's ``context\x04text``)."""
    return text if context is None else f"{context}\x04{text}"


@pytest.mark.parametrize("language", [code for code in Catalogs().languages if code != "en"])
def test_every_message_is_translated(language: str) -> None:
    catalog = Catalogs().messages[language]
    missing = sorted(used_messages() - set(catalog))
    assert not missing, f"{language} lacks: {missing}"


def test_placeholders_survive_translation() -> None:
    for language, catalog in Catalogs().messages.items():
        for source, translated in catalog.items():
            for placeholder in ("%(count)s", "%(name)s", "%(time)s", "%(hours)s", "%(status)s"):
                assert (placeholder in source) == (placeholder in translated), (language, source)
