"""A simulated day of ``identify`` events against Marketo's daily quota (issue 8).

    .venv/bin/python bench/syncs_quota.py [--events 200000] [--users 30000] [--quota 50000]
        [--suppress-seconds 0] [--quota-budget 1.0] [--step-seconds 60]
        [--database-url sqlite:///...]

Prints one JSON document. Everything runs in this process on a movable clock against the
Marketo sandbox on 127.0.0.1 (tests/syncs/day.py): the day's events arrive in one ingest
commit per clock step; each identify asks for a realtime upsert (``--suppress-seconds``
86400 gives KARTE's 24 h window per user); the 30-minute batch sends every profile
identified in its window; the quota planner coalesces realtime work when the day's
projected usage passes the budget. It reports the calls used (peak of any vendor day,
counted by Renkei and by the sandbox), sandbox violations (must be 0), the alerts that
fired and when, calls by trigger, and how many profiles' last change did not reach Marketo
(must be 0). A scaled-down day runs in tests/syncs/test_quota_day.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the stdlib module ``queue``; keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import logging
import tempfile
import time

import structlog
from tests.syncs.day import simulate_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--quota", type=int, default=50_000)
    parser.add_argument(
        "--suppress-seconds", type=int, default=0, help="realtime suppression per user"
    )
    parser.add_argument(
        "--quota-budget", type=float, default=1.0, help="share of the quota realtime may plan for"
    )
    parser.add_argument(
        "--step-seconds", type=int, default=60, help="clock step; one ingest commit per step"
    )
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench-syncs.db"
    started = time.perf_counter()
    result = asyncio.run(
        simulate_day(
            url,
            events=args.events,
            users=args.users,
            quota=args.quota,
            step_seconds=args.step_seconds,
            suppress_seconds=args.suppress_seconds,
            quota_budget=args.quota_budget,
        )
    )
    figures = result.as_dict() | {
        "suppress_seconds": args.suppress_seconds,
        "quota_budget": args.quota_budget,
        "database": url.split(":", 1)[0],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "quota_held": max(result.calls_used, result.sandbox_calls) <= result.quota
        and not result.violations,
        "no_change_lost": result.missing == 0 and result.stale == 0,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
