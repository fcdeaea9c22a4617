"""The dashboard: server-rendered pages under ``/ui/`` on the API's port (docs/dashboard.md).

Jinja2 templates and htmx, shipped in the package (no build step, no CDN). Pages call the
use cases (``renkei.usecases``) as the signed-in token's holder, never the tables. A page
is one module in ``pages/`` (its ``routes``) and one template in ``templates/``; the
navigation lists it in ``navigation.py``.
"""

from renkei.dashboard.app import create_dashboard, with_dashboard

__all__ = ["create_dashboard", "with_dashboard"]
