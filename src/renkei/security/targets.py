"""Where stored credentials are sent, and which targets may be saved at all.

Two guards of the management use cases (endpoints, connections, flows):

- **Moving credentials.** Custom headers of an endpoint, a connection's credentials and a
  flow's signing secret are sent to a host. Pointing them at another host hands them to
  whoever runs it, so only an ``admin`` token may, unless the change gives the credentials
  again (then nothing stored goes anywhere new). :func:`origin` is what "the host" means
  (scheme, host and port); :class:`CredentialMove` is the refusal.
- **Private targets at save time.** A URL whose host is a private, loopback, link-local or
  metadata IP literal is refused when it is saved, unless the settings allow private targets
  (:func:`refuse_private_literal`). Names are checked when connecting, after DNS resolution.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from renkei.security.tokens import Scope, scope_allows

if TYPE_CHECKING:
    from renkei.delivery.ssrf import IPAddress, TargetPolicy

__all__ = [
    "MOVE_SCOPE",
    "CredentialMove",
    "literal_address",
    "may_move_credentials",
    "origin",
    "refusal_hint",
    "refuse_private_literal",
]

MOVE_SCOPE: Scope = "admin"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Forms ``inet_aton`` reads as an IPv4 address and a resolver would too: 127.1, 0x7f.0.0.1,
# 2130706433, 017700000001.
_IPV4_SHORTHAND = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$")


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


class CredentialMove(Exception):
    """A change would send stored credentials to a new host; the caller may not make it.

    ``moved_from`` and ``moved_to`` are origins (never a path, query or credential)."""

    status = 403
    code = "forbidden"

    def __init__(
        self, kind: str, moved_from: Iterable[str], moved_to: Iterable[str], *, remedy: str
    ) -> None:
        self.kind = kind
        self.moved_from = sorted(set(moved_from))
        self.moved_to = sorted(set(moved_to))
        self.message = (
            f"this change sends the {kind}'s stored credentials to "
            f"{', '.join(self.moved_to) or 'another host'}: that needs an {MOVE_SCOPE} token, "
            f"or {remedy}"
        )
        super().__init__(self.message)

    @property
    def details(self) -> dict[str, object]:
        return {"from": self.moved_from, "to": self.moved_to, "needs": MOVE_SCOPE}


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, in any form a resolver accepts; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_SHORTHAND.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refusal_hint(reason: str) -> str:
    """What lifts a refusal, for the message of a 422."""
    if "metadata" in reason:
        return "only RENKEI_ALLOWED_TARGET_NETWORKS opens a metadata address"
    return "RENKEI_ALLOW_PRIVATE_TARGETS allows private networks"


def refuse_private_literal(policy: TargetPolicy, url: str) -> None:
    """Raise :class:`~renkei.delivery.errors.TargetRefused` when ``url``'s host is an IP
    literal that ``policy`` refuses (private, loopback, link-local, metadata ...)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return
    if not host:
        return
    address = literal_address(host)
    if address is not None:
        policy.check_address(address)
