"""The navigation, in order: (label, path); each path is a page module's route
(``pages/__init__.py``)."""

from __future__ import annotations

NAVIGATION: list[tuple[str, str]] = [
    ("Overview", "/ui/"),
    ("Webhooks", "/ui/webhooks"),
    ("Event types", "/ui/event-types"),
    ("Events", "/ui/events"),
    ("Sources", "/ui/sources"),
    ("Flows", "/ui/flows"),
    ("Connections", "/ui/connections"),
    ("Syncs", "/ui/syncs"),
    ("Profiles", "/ui/profiles"),
    ("Audit log", "/ui/audit"),
]


def current_section(path: str) -> str:
    """The navigation path a request's page belongs to (for ``aria-current``), or ``""``
    for a page of none (the missing page, sign-in): highlighting "Overview" there says
    the viewer is somewhere they are not."""
    if path in ("/ui", "/ui/"):
        return "/ui/"
    for _, section in NAVIGATION:
        if section != "/ui/" and (path == section or path.startswith(section + "/")):
            return section
    return ""
