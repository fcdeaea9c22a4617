"""Alerts: problems grouped by cause and subject, opened by failure events and by rules a
periodic evaluator checks, resolved by hand or after a quiet period (docs/operations.md)."""
