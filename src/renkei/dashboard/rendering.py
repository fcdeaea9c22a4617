"""Rendering a page: the Jinja2 environment (autoescaped) and what every template gets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from renkei.dashboard.i18n import Catalogs
from renkei.dashboard.navigation import NAVIGATION, current_section
from renkei.dashboard.viewer import CSRF_FIELD, LANGUAGE_COOKIE, Viewer


def time_element(value: datetime | None) -> Markup:
    """``<time>`` in UTC; static/dashboard.js shows it in the viewer's time zone."""
    if value is None:
        return Markup("—")
    stamp = value.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{0}">{0}</time>').format(stamp)


class Renderer:
    def __init__(self, catalogs: Catalogs) -> None:
        self.catalogs = catalogs
        self.environment = Environment(
            loader=PackageLoader("renkei.dashboard", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.globals["time"] = time_element

    def language(self, request: Request) -> str:
        return self.catalogs.choose(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

    def gettext(self, request: Request) -> Any:
        return self.catalogs.gettext(self.language(request))

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        viewer: Viewer | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        language = self.language(request)
        gettext = self.catalogs.gettext(language)
        csrf = viewer.csrf if viewer else ""

        def with_values(text: str, **values: Any) -> Markup:
            """A message with placeholders: the message escaped, each value escaped unless
            it is markup already (a ``time(...)``)."""
            return escape(gettext(text)) % values

        values: dict[str, Any] = {
            "_": gettext,
            "pgettext": self.catalogs.pgettext(language),
            "t": with_values,
            "lang": language,
            "languages": self.catalogs.languages,
            "navigation": NAVIGATION,
            "section": current_section(request.url.path),
            "path": request.url.path,
            "viewer": viewer,
            "csrf": csrf,
            "csrf_field": Markup('<input type="hidden" name="{}" value="{}">').format(
                CSRF_FIELD, escape(csrf)
            ),
            "htmx": request.headers.get("hx-request") == "true",
        }
        values.update(context or {})
        body = self.environment.get_template(template).render(values)
        return HTMLResponse(body, status_code=status)
