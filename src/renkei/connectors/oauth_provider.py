"""What a vendor's OAuth 2.0 authorization-code flow looks like, declared as data by each
connector that supports "Connect" (``Connector.oauth``).

The URLs are the vendor's; a connection may point them elsewhere (a sandbox, a regional
host) with the config settings ``oauth_authorize_url`` and ``oauth_token_url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["OAuthProvider"]


@dataclass(frozen=True)
class OAuthProvider:
    authorize_endpoint: str
    exchange_endpoint: str
    scopes: tuple[str, ...]
    # PKCE (RFC 7636, S256) only where the vendor documents it for web server apps.
    pkce: bool
    # How scopes are joined in the authorize URL (Meta: commas; the others: spaces).
    scope_separator: str = " "
    # Extra authorize parameters (Google: access_type=offline and prompt=consent, so a
    # refresh token comes back every time).
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    # "refresh": the vendor issues refresh tokens; "long_lived": no refresh token, the code's
    # token is exchanged for a long-lived one (Meta) and the user connects again when it ends.
    renewal: Literal["refresh", "long_lived"] = "refresh"
    # The token endpoint takes the client's credentials in the form body ("form") or as
    # HTTP Basic ("basic"); Meta's Graph API takes a GET with everything in the query.
    exchange_style: Literal["form", "basic", "query"] = "form"
