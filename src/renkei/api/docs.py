"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served whole by Renkei: no CDN.

The assets are vendored under ``renkei/api/static/`` (see its README for their origin
and licences) and served at ``/docs/assets/``; the pages reference nothing else, so the
docs work on a machine without internet access.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "STATIC_DIR", "install_docs"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/docs/assets"

_SWAGGER_UI = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API</title>
<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui/init.js" data-openapi-url="{openapi_url}"></script>
</body>
</html>
"""

_REDOC = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API reference</title>
<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{assets}/redoc/redoc.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets (the app is made with docs_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"

    def page(template: str, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(
            template.format(
                title=html.escape(app.title),
                assets=html.escape(root + ASSETS_PATH),
                openapi_url=html.escape(root + openapi_url),
            )
        )

    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(_SWAGGER_UI, request)

    async def redoc(request: Request) -> HTMLResponse:
        return page(_REDOC, request)

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="docs-assets")
