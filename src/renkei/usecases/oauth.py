"""OAuth connect: "Connect" sends the user to the vendor's consent page, the vendor sends the
browser back to ``/oauth/callback`` with a code, and the code becomes tokens sealed in the
connection's credentials (docs/connectors/oauth.md).

The callback is not authenticated (the browser arrives from the vendor): what protects it is
the ``state``, 256 random bits, usable once, for ``STATE_TTL``, bound to the connection and
recorded with who started it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from renkei.alerts import model as alerts
from renkei.connectors import oauth
from renkei.connectors.connections import ConnectionRow, store_connected_credentials
from renkei.connectors.errors import ConfigurationError, ConnectorError, RetryableError
from renkei.connectors.http import ConnectorHTTP
from renkei.connectors.oauth_states import StateRefused, claim_state, create_state
from renkei.connectors.registry import default_registry
from renkei.errors import Invalid, RenkeiError
from renkei.usecases.access import Actor, require
from renkei.usecases.connections import VendorFailed
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "CALLBACK_PATH",
    "STATE_TTL",
    "Connected",
    "OAuthRefused",
    "finish",
    "oauth_connectors",
    "start",
]

CALLBACK_PATH = "/oauth/callback"
STATE_TTL = timedelta(minutes=10)
ReturnTo = Literal["dashboard", "json"]
# Alerts a new grant answers: the lost grant, and failures it caused.
_RESOLVED_KINDS = ("connection_needs_reauth", "connection_failing")


class OAuthRefused(RenkeiError):
    """The callback cannot connect: a state unknown, used or expired, the user's refusal,
    a code the vendor refused (400)."""

    status = 400
    default_code = "oauth_refused"


@dataclass(frozen=True)
class Connected:
    connection: ConnectionRow
    return_to: str


def oauth_connectors() -> frozenset[str]:
    """The connectors whose connections can be authorized with OAuth connect."""
    registry = default_registry()
    return frozenset(name for name in registry.names if registry.get(name).oauth is not None)


def redirect_uri(hub: Hub, request_base_url: str) -> str:
    """RENKEI_PUBLIC_URL when set (what the vendor's app registration must list), else the
    URL the request came to."""
    base = hub.settings.public_url or request_base_url
    return base.rstrip("/") + CALLBACK_PATH


async def start(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    request_base_url: str,
    return_to: ReturnTo = "dashboard",
    via: str | None = None,
) -> dict[str, Any]:
    """The vendor's authorize URL for connection ``ref``, with a new state (and PKCE
    challenge where the vendor takes one)."""
    require(actor, "write")
    runtime = hub.connectors.runtime
    row = await runtime.load(ref)
    provider = runtime.connector(row).oauth
    if provider is None:
        raise Invalid(
            f"connector {row.connector!r} has no OAuth connect; give its credentials instead",
            code="oauth_unsupported",
        )
    credentials = row.decrypt(hub.keyring)
    if not (credentials.get("client_id") and credentials.get("client_secret")):
        raise Invalid(
            "set the OAuth app's client_id and client_secret credentials on the connection first",
            code="oauth_client_missing",
        )
    pkce = oauth.Pkce.new() if provider.pkce else None
    callback = redirect_uri(hub, request_base_url)
    now = hub.clock.now()
    async with hub.database.transaction() as tx:
        state = await create_state(
            tx,
            hub.keyring,
            connection_id=row.id,
            started_by=actor.token_id if actor is not None else "system",
            code_verifier=pkce.verifier if pkce else None,
            redirect_uri=callback,
            return_to=return_to,
            now=now,
            ttl=STATE_TTL,
        )
        await hub.audit(
            tx,
            actor,
            "connection.oauth_started",
            target_type="connection",
            target_id=row.id,
            details=with_via(via, {"pkce": pkce is not None}),
        )
    url = oauth.authorize_url(
        provider,
        row.config,
        client_id=credentials["client_id"],
        redirect_uri=callback,
        state=state,
        pkce=pkce,
    )
    return {
        "connection": row.name,
        "authorize_url": url,
        "redirect_uri": callback,
        "expires_at": now + STATE_TTL,
    }


async def finish(
    hub: Hub,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
) -> Connected:
    """The vendor's answer: ``code`` exchanged for tokens, or ``error`` (the user said no).
    The state is used up either way."""
    if not state:
        raise OAuthRefused("the callback carries no state", code="oauth_state_missing")
    async with hub.database.transaction() as tx:
        claimed = await claim_state(tx, hub.keyring, state, now=hub.clock.now())
    if isinstance(claimed, StateRefused):
        raise OAuthRefused(
            {
                "unknown": "this authorization is unknown; start Connect again",
                "used": "this authorization was already used; start Connect again",
                "expired": "this authorization expired; start Connect again",
            }[claimed.reason],
            code=f"oauth_state_{claimed.reason}",
        )
    if error:
        raise OAuthRefused(
            f"the vendor answered {error[:64]!r}: the connection was not authorized",
            code="oauth_access_denied" if error == "access_denied" else "oauth_vendor_error",
        )
    if not code:
        raise OAuthRefused("the callback carries no code", code="oauth_code_missing")
    runtime = hub.connectors.runtime
    row = await runtime.load(claimed.connection_id)
    provider = runtime.connector(row).oauth
    assert provider is not None  # start() refused the connection otherwise
    credentials = row.decrypt(hub.keyring)
    http = ConnectorHTTP(
        "",
        connector=row.connector,
        connection=row.name,
        clock=hub.clock,
        transport=runtime.pools,
        timeout=hub.settings.connector_http_timeout_seconds,
        policy=runtime.policy,
    )
    try:
        async with http:
            tokens = await oauth.exchange_code(
                http.send_token_request,
                provider,
                row.config,
                client_id=credentials.get("client_id", ""),
                client_secret=credentials.get("client_secret", ""),
                code=code,
                redirect_uri=claimed.redirect_uri,
                verifier=claimed.code_verifier,
                clock=hub.clock,
            )
    except ConfigurationError as exc:
        raise OAuthRefused(
            f"the vendor refused the authorization code: {exc.message}",
            code="oauth_exchange_refused",
        ) from None
    except (RetryableError, ConnectorError) as exc:
        raise VendorFailed(
            f"the vendor's token endpoint failed: {exc.message}",
            details={"kind": type(exc).__name__, "code": exc.code},
        ) from None
    async with hub.database.transaction() as tx:
        await store_connected_credentials(
            tx, row.id, hub.keyring, tokens.credentials(), now=hub.clock.now()
        )
        for kind in _RESOLVED_KINDS:
            await alerts.resolve_subject(
                hub, tx, kind=kind, subject_type="connection", subject_id=row.id
            )
        await hub.audit(
            tx,
            None,
            "connection.oauth_connected",
            target_type="connection",
            target_id=row.id,
            details={
                "started_by": claimed.started_by,
                "refresh_token": tokens.refresh_token is not None,
            },
        )
    return Connected(await runtime.load(row.id), claimed.return_to)
