"""Languages from gettext catalogs: ``locales/<lang>/LC_MESSAGES/messages.po``, read with Babel
at startup (no compile step). English is the templates' own text; adding a language is
adding a catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from babel.messages.pofile import read_po

SOURCE_LANGUAGE = "en"
Gettext = Callable[[str], str]
# ``pgettext(context, text)``: one English word that means two things (Recover's "Since" is a
# moment to start from, a profile identity's "Since" is when it was registered) gets a
# context (``msgctxt`` in the catalog), kept under gettext's own ``context\x04text`` key.
Pgettext = Callable[[str, str], str]
_CONTEXT_SEPARATOR = "\x04"


class Catalogs:
    def __init__(self) -> None:
        self.messages: dict[str, dict[str, str]] = {SOURCE_LANGUAGE: {}}
        locales = files("renkei.dashboard").joinpath("locales")
        for language in sorted(entry.name for entry in locales.iterdir() if entry.is_dir()):
            catalog_file = locales.joinpath(language, "LC_MESSAGES", "messages.po")
            with catalog_file.open("rb") as handle:
                catalog = read_po(handle, locale=language)
            self.messages[language] = {
                _key(message.context, str(message.id)): str(message.string)
                for message in catalog
                if message.id and message.string and not message.fuzzy
            }

    @property
    def languages(self) -> list[str]:
        return list(self.messages)

    def gettext(self, language: str) -> Gettext:
        table = self.messages.get(language, {})
        return lambda text: table.get(text, text)

    def pgettext(self, language: str) -> Pgettext:
        table = self.messages.get(language, {})
        return lambda context, text: table.get(_key(context, text), text)

    def choose(self, chosen: str | None, accept_language: str | None) -> str:
        """The switch's choice (a cookie) first, then the browser's preferences in order."""
        if chosen in self.messages:
            return chosen
        for tag in _preferences(accept_language or ""):
            primary = tag.split("-")[0]
            if tag in self.messages:
                return tag
            if primary in self.messages:
                return primary
        return SOURCE_LANGUAGE


def _key(context: str | None, text: str) -> str:
    return text if context is None else f"{context}{_CONTEXT_SEPARATOR}{text}"


def _preferences(header: str) -> list[str]:
    """``ja,en-US;q=0.8`` → ``["ja", "en-us"]``, by quality (``q=0`` means never)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]
