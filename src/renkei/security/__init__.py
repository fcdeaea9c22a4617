"""Secrets at rest, API tokens, the audit trail and redaction.

keyring.py     encryption of stored secrets (``RENKEI_SECRET_KEY``), key rotation (rotation.py)
tokens.py      API tokens and their scopes
audit.py       the audit trail
redaction.py   the one rule for secret names, and redaction of logs, errors and answers
targets.py     where a credential may be sent
sessions.py    the dashboard's signed-in browsers

The package imports nothing itself, so ``redaction`` stays importable without the database
layer (the connectors SDK uses it).
"""
