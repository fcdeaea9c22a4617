"""Every page's routes. A page is a module here (``routes = [Route(...)]``) and its
templates; list the module below, and its navigation entry in ``navigation.py``."""

from starlette.routing import BaseRoute

from renkei.dashboard.pages import coming, overview, signin, webhooks

ROUTES: list[BaseRoute] = [
    *signin.routes,
    *overview.routes,
    *webhooks.routes,
    *coming.routes,
]
