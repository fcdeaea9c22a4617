"""Which targets Renkei may connect to (the SSRF guard), for webhooks, flow actions and connectors.

Two checks: :meth:`TargetPolicy.check_url` when a URL is saved (scheme, host, literal
addresses), and :meth:`TargetPolicy.check_address` on every address at connect time, after
DNS resolution, so a name that later resolves somewhere internal (DNS rebinding) is still
refused. By default only globally routable addresses pass. ``allow_private`` lifts that for
loopback, private, link-local and the like, but not for cloud metadata services, which only an
explicitly allowed network (``allowed_networks``) opens.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from renkei.egress.errors import TargetRefused

if TYPE_CHECKING:
    from renkei.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata and platform services reachable from inside a cloud VM.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "169.254.0.23",  # Tencent Cloud
        "192.0.0.192",  # Oracle Cloud Classic
        "168.63.129.16",  # Azure WireServer (a public address)
    )
)

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
ALLOWED_SCHEMES = frozenset({"http", "https"})


def parse_networks(values: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, 192.168.1.5"`` or a list of CIDRs as networks; ValueError if invalid."""
    items = values.split(",") if isinstance(values, str) else values
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in items if v.strip())


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = ()
    https_only: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, *, https_only: bool = False) -> TargetPolicy:
        """The policy of ``RENKEI_ALLOW_PRIVATE_TARGETS`` and ``RENKEI_ALLOWED_TARGET_NETWORKS``."""
        return cls(
            allow_private=settings.allow_private_targets,
            allowed_networks=parse_networks(settings.allowed_target_networks),
            https_only=https_only,
        )

    def check_url(self, url: str) -> None:
        """Save-time check of a target URL; raises :class:`TargetRefused`."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise TargetRefused("URL", "it is not a valid URL") from exc
        self.check_scheme(parts.scheme)
        if not host:
            raise TargetRefused("URL", "it has no host")
        if port == 0:
            raise TargetRefused(host, "port 0 is not a valid port")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return  # a name: its addresses are checked when connecting
        self.check_address(address)

    def check_scheme(self, scheme: str) -> None:
        scheme = scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise TargetRefused(f"{scheme or 'no'} scheme", "only http and https are allowed")
        if self.https_only and scheme != "https":
            raise TargetRefused("http scheme", "only https is allowed")

    def check_address(self, address: str | IPAddress) -> None:
        """Connect-time check of one resolved address; raises :class:`TargetRefused`."""
        original = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(original, ipaddress.IPv6Address) and original.scope_id:
            original = ipaddress.IPv6Address(int(original))
        ip = _embedded_ipv4(original) or original
        if any(ip in net or original in net for net in self.allowed_networks):
            return
        target = str(original) if ip is original else f"{original} (IPv4 {ip})"
        if ip in METADATA_ADDRESSES:
            raise TargetRefused(target, "a cloud metadata address")
        reason = forbidden_reason(ip)
        if reason is not None and not self.allow_private:
            raise TargetRefused(target, reason)

    def allowed_addresses(self, host: str, addresses: Iterable[str]) -> list[str]:
        """The addresses of ``host`` that may be connected to; refuses if none may."""
        allowed, refusals = [], []
        for address in addresses:
            try:
                self.check_address(address)
                allowed.append(address)
            except TargetRefused as exc:
                refusals.append(f"{exc.target} is {exc.reason}")
        if not allowed:
            raise TargetRefused(host, "; ".join(refusals) or "no address")
        return allowed


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public target, or None if it is globally routable."""
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip in _CGNAT, "shared address space (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


# Forms ``inet_aton`` reads as an IPv4 address and a resolver would too: 127.1, 0x7f.0.0.1,
# 2130706433, 017700000001.
_IPV4_SHORTHAND = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$")


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
    """Raise :class:`~renkei.egress.errors.TargetRefused` when ``url``'s host is an IP
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
