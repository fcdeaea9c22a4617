"""Schemathesis against ``/openapi.json`` of a live server on loopback (issue 14).

Every documented operation (management API, tracking API, hooks, health) is called with
generated requests, valid and invalid, with an admin token: no answer may be a server
error, have a status the document does not list, or break the documented schema.

Bounded: a fixed seed, a few examples per operation and phase, no stateful phase, one
backend (SQLite), no worker (nothing created here is ever delivered anywhere).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.schemas import BaseSchema

from tests.support.databases import DatabaseFactory
from tests.support.server import ADMIN_TOKEN, running_hub

# Deeper runs by hand: RENKEI_FUZZ_SEED=7 RENKEI_FUZZ_EXAMPLES=50 RENKEI_FUZZ_BACKEND=postgresql
# .venv/bin/python -m pytest -s tests/api/test_openapi_fuzz.py
SEED = int(os.environ.get("RENKEI_FUZZ_SEED", "14"))
MAX_EXAMPLES = int(os.environ.get("RENKEI_FUZZ_EXAMPLES", "4"))
BACKEND = os.environ.get("RENKEI_FUZZ_BACKEND", "sqlite")  # or postgresql
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
]

# What the run saw, for the report printed at the end of the module.
SEEN: Counter[str] = Counter()
OPERATIONS: set[str] = set()


@pytest.fixture(scope="module")
def fuzzed_server(database_factory: DatabaseFactory) -> Iterator[str]:
    with running_hub(database_factory.new_url(BACKEND), with_worker=False) as (base_url, _):
        yield base_url
    statuses = " ".join(f"{key}:{n}" for key, n in sorted(SEEN.items()) if key[:1].isdigit())
    print(
        f"\nschemathesis: {len(OPERATIONS)} operations, {SEEN['cases']} cases, "
        f"{SEEN['5xx']} server errors (statuses {statuses})"
    )


def _schema(base_url: str) -> BaseSchema:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


def test_the_api_answers_as_documented(fuzzed_server: str) -> None:
    """Schemathesis's examples, coverage and fuzzing phases, operation by operation.

    (Schemathesis's own pytest integration needs a pytest older than the one used here, so
    the operations' tests are built with its test builder and run in this one test.)
    """
    schema = _schema(fuzzed_server)
    failures: list[str] = []

    def call(case: Case) -> None:
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        SEEN["cases"] += 1
        SEEN[str(response.status_code)] += 1
        if response.status_code >= 500:
            SEEN["5xx"] += 1

    bounded = settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        print_blob=False,
    )
    for result in get_all_tests(schema=schema, test_func=call, settings=bounded, given_kwargs={}):
        if not isinstance(result, Ok):
            failures.append(f"invalid schema: {result.err()}")
            continue
        operation, run = result.ok()
        OPERATIONS.add(operation.label)
        try:
            run()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a FailureGroup: every check that failed, with a repro
            failures.append(f"{operation.label}: {exc}")
    for failure in failures:
        print(f"\n{failure}")
    assert not failures, f"{len(failures)} operations failed (printed above)"
