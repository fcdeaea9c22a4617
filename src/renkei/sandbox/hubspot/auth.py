"""Authentication (``Authorization: Bearer``: a private app's ``pat-...`` token, or an
access token the sandbox's OAuth server issued) and scopes."""

from __future__ import annotations

from renkei.sandbox._common import Call, bearer_token
from renkei.sandbox._oauth import OAuthServer
from renkei.sandbox.hubspot.config import HubSpotSandboxConfig
from renkei.sandbox.hubspot.errors import HubSpotError

_SCOPES_DOC = "https://developers.hubspot.com/scopes"
OAUTH_TOKEN_PREFIX = "CJ"  # what HubSpot's OAuth access tokens look like


def authenticate(config: HubSpotSandboxConfig, call: Call, oauth: OAuthServer) -> None:
    token = bearer_token(call)
    if token is None:
        raise HubSpotError(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at "
            "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    if token in config.access_tokens or oauth.valid(token):
        return
    if token.startswith(OAUTH_TOKEN_PREFIX):
        raise HubSpotError(
            401,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired.",
        )
    if token not in config.access_tokens:
        raise HubSpotError(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials are not valid. The access token may have been "
            "rotated or the app uninstalled.",
        )


def authorize(config: HubSpotSandboxConfig, scope: str) -> None:
    if config.scopes is None or scope in config.scopes:
        return
    raise HubSpotError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        f"Read more about required scopes here: {_SCOPES_DOC}.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
        extra={"links": {"scopes": _SCOPES_DOC}},
    )
