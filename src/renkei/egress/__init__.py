"""Outbound HTTP: the one SSRF policy, the one client library and what every sender shares.

``ssrf.TargetPolicy`` decides which URLs and addresses Renkei may connect to (checked when a
URL is saved and again at connect time, after DNS); ``errors.TargetRefused`` is what it
raises; ``session.policy_session`` is the pooled aiohttp session that applies it to every
socket (aiohttp was chosen by measurement: docs/benchmarks.md, "One HTTP client");
``transport.EgressPools`` puts connector calls (httpx requests) on that session;
``failures.describe`` classifies a request that got no response; ``retry_after`` reads a
vendor's ``Retry-After``; ``limits.RateLimiter`` is the interface of every outbound rate limit.
Webhook deliveries, flow HTTP actions and connectors all build on it; it imports no feature.
"""
