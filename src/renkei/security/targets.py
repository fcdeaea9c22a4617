"""Where stored credentials are sent, and which targets may be saved at all.

Two guards of the management use cases (endpoints, connections, flows):

- **Moving credentials.** Custom headers of an endpoint, a connection's credentials and a
  flow's signing secret are sent to a host. Pointing them at another host hands them to
  whoever runs it, so only an ``admin`` token may, unless the change gives the credentials
  again (then nothing stored goes anywhere new). :func:`origin` is what "the host" means
  (scheme, host and port); :class:`CredentialMove` is the refusal.
- **Private targets at save time.** A URL whose host is a private, loopback, link-local or
  metadata IP literal is refused when it is saved, unless the settings allow private targets
  (:func:`renkei.egress.ssrf.refuse_private_literal`). Names are checked when connecting,
  after DNS resolution.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from renkei.errors import Forbidden
from renkei.security.tokens import Scope, scope_allows

__all__ = [
    "MOVE_SCOPE",
    "CredentialMove",
    "may_move_credentials",
    "origin",
]

MOVE_SCOPE: Scope = "admin"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lowercase, default port dropped): where a request
    to it goes. A value that is no absolute URL (a template such as ``{{ data.url }}``) is
    its own origin, so changing it counts as changing the host."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    if not scheme or not host:
        return text
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def may_move_credentials(scope: str) -> bool:
    return scope_allows(scope, MOVE_SCOPE)


class CredentialMove(Forbidden):
    """A change would send stored credentials to a new host; the caller may not make it.

    ``moved_from`` and ``moved_to`` are origins (never a path, query or credential)."""

    def __init__(
        self, kind: str, moved_from: Iterable[str], moved_to: Iterable[str], *, remedy: str
    ) -> None:
        self.kind = kind
        self.moved_from = sorted(set(moved_from))
        self.moved_to = sorted(set(moved_to))
        message = (
            f"this change sends the {kind}'s stored credentials to "
            f"{', '.join(self.moved_to) or 'another host'}: that needs an {MOVE_SCOPE} token, "
            f"or {remedy}"
        )
        details = {"from": self.moved_from, "to": self.moved_to, "needs": MOVE_SCOPE}
        super().__init__(message, details=details)
