"""Outbound HTTP: the one SSRF policy, the connection pool it guards and ``Retry-After``.

``ssrf.TargetPolicy`` decides which URLs and addresses Renkei may connect to (checked when a
URL is saved and again at connect time, after DNS); ``errors.TargetRefused`` is what it
raises; ``session.policy_session`` is the pooled aiohttp session that applies it to every
socket; ``retry_after.parse_retry_after`` reads a vendor's ``Retry-After``. Webhook
deliveries, flow HTTP actions and connectors all build on it; it imports no feature.
"""
