"""Tables of OAuth connect (migration: store/migrations/versions/0026_oauth.py).

oauth_states   one "Connect" in progress: the SHA-256 of the ``state`` sent to the vendor
               (the value itself is a bearer secret and is never stored), the connection it
               is bound to, who started it, the PKCE verifier (keyring ciphertext), the
               redirect URI the code was requested for, when it expires and when it was used
               (single use: the callback claims it with one conditional update)
"""

from sqlalchemy import Column, Index, String, Table

from renkei.store.tables._metadata import metadata
from renkei.store.types import Ciphertext, UTCDateTime

__all__ = ["oauth_states"]

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("connection_id", String(40), nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("code_verifier", Ciphertext),
    Column("redirect_uri", String(2000), nullable=False),
    Column("return_to", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Index("ix_oauth_states_expires_at", "expires_at"),
)
