"""The flow engine on a movable clock: triggers, steps, re-eligibility, delays, branches,
retries, versions, actions. Real HTTP to loopback receivers; no sleeps."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from renkei.events.profiles import get_profile, resolve_profile
from renkei.flows.engine import FlowEngine
from renkei.flows.service import reveal_secret, set_enabled, update_flow
from tests.flows.conftest import FlowBench
from tests.flows.receivers import Receiver, assert_signed

pytestmark = pytest.mark.timeout(60)


def _post(url: str, body: object = "{{ data }}", **extra: object) -> dict[str, object]:
    return {"action": {"url": url, "body": body, **extra}}


async def test_trigger_filter_map_template_and_signed_post(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {
                "event_types": ["track"],
                "names": ["Signed Up"],
                "filter": {"data.properties.plan": {"$in": ["pro", "team"]}},
            },
            "steps": [
                {
                    "id": "contact",
                    "map": [
                        {
                            "target": "email",
                            "source": "event.email",
                            "convert": ["trim", "lowercase"],
                        },
                        {
                            "target": "plan",
                            "source": "data.properties.plan",
                            "convert": ["uppercase"],
                        },
                    ],
                },
                {
                    "id": "body",
                    "template": {
                        "source": '{"email_address": "{{ data.email }}", "tags": ["{{ data.plan }}"]}'
                    },
                },
                {"id": "send", **_post(target.url + "/lists/members", "{{ steps.body }}")},
            ],
        }
    )
    await bench.emit(
        name="Signed Up", email="  Ann@Example.com ", data={"properties": {"plan": "pro"}}
    )
    await bench.emit(
        name="Signed Up", email="bob@example.com", data={"properties": {"plan": "free"}}
    )
    await bench.emit(
        name="Logged In", email="ann@example.com", data={"properties": {"plan": "pro"}}
    )
    await bench.run()

    [request] = target.to("/lists/members")
    assert request.json() == {"email_address": "ann@example.com", "tags": ["PRO"]}
    async with bench.hub.database.read() as connection:
        secret = await reveal_secret(bench.hub, connection, flow_id)
    assert_signed(secret, request)
    [run] = await bench.runs(flow_id)
    assert run["status"] == "succeeded"
    assert [s["step"] for s in run["steps"]] == ["contact", "body", "send"]
    assert run["steps"][2]["output"]["response"]["status"] == 200
    assert run["steps"][2]["input"]["headers"]["webhook-signature"] == "[redacted]"


async def test_reeligibility_once_per_user_and_mode(bench: FlowBench, target: Receiver) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["track"], "names": ["Study Mode Selected"]},
            "reeligibility": {"mode": "once", "key": "{{ event.user_id }}:{{ event.data.mode }}"},
            "steps": [_post(target.url + "/track")],
        }
    )
    for mode in ("learn", "learn", "test", "learn"):
        await bench.emit(name="Study Mode Selected", user_id="u1", data={"mode": mode})
        bench.clock.advance(hours=100)
    await bench.emit(name="Study Mode Selected", user_id="u2", data={"mode": "learn"})
    await bench.run()

    assert sorted(r.json()["mode"] for r in target.to("/track")) == ["learn", "learn", "test"]
    statuses = [run["status"] for run in await bench.runs(flow_id)]
    assert statuses.count("succeeded") == 3
    assert statuses.count("skipped") == 2
    skipped = [run for run in await bench.runs(flow_id) if run["status"] == "skipped"]
    assert all("not re-eligible" in run["error"] for run in skipped)


async def test_reeligibility_window_with_movable_clock(bench: FlowBench, target: Receiver) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["identify"]},
            "reeligibility": {"mode": "once_per", "hours": 24},
            "steps": [_post(target.url + "/sync")],
        }
    )

    async def identify() -> None:
        await bench.emit("identify", user_id="u1")
        await bench.run()

    await identify()  # enters
    bench.clock.advance(hours=23, minutes=59)
    await identify()  # inside the window: suppressed
    bench.clock.advance(minutes=1)
    await identify()  # exactly 24 h after the first entry: enters again
    bench.clock.advance(hours=1)
    await identify()  # suppressed again, counted from the second entry
    await bench.emit("identify", user_id="u2")  # another user is independent
    await bench.run()

    assert len(target.to("/sync")) == 3
    assert [r["status"] for r in await bench.runs(flow_id)] == [
        "succeeded",
        "skipped",
        "succeeded",
        "skipped",
        "succeeded",
    ]


async def test_always_and_users_without_identity(bench: FlowBench, target: Receiver) -> None:
    await bench.flow({"trigger": {"event_types": ["track"]}, "steps": [_post(target.url + "/a")]})
    await bench.flow(
        {
            "trigger": {"event_types": ["track"]},
            "reeligibility": "once",
            "steps": [_post(target.url + "/b")],
        }
    )
    for _ in range(2):
        await bench.emit(user_id="u1")
        await bench.emit()  # no user at all: nobody to suppress, so it runs
    await bench.run()
    assert len(target.to("/a")) == 4
    assert len(target.to("/b")) == 3


async def test_concurrent_entries_cannot_double_enter(bench: FlowBench, target: Receiver) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["track"]},
            "reeligibility": "once",
            "steps": [_post(target.url + "/x")],
        }
    )
    events = [await bench.emit(user_id="same", id=f"evt_c{i}") for i in range(6)]
    version = 1
    results = await asyncio.gather(
        *(bench.engine.start({"f": flow_id, "v": version, "e": event.id}) for event in events)
    )
    assert all(results)
    runs = await bench.runs(flow_id)
    assert len(runs) == 6
    assert [r["status"] for r in runs].count("running") == 1
    await bench.run()  # the fan-out's own start jobs find their runs and do nothing more
    assert len(target.to("/x")) == 1


async def test_delay_duration_then_send(bench: FlowBench, target: Receiver) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["track"], "names": ["Cart Abandoned"]},
            "steps": [
                {"id": "wait", "delay": "2h"},
                {"id": "remind", **_post(target.url + "/remind")},
            ],
        }
    )
    await bench.emit(name="Cart Abandoned", user_id="u1", data={"cart": 3})
    await bench.run()
    [run] = await bench.runs(flow_id)
    assert run["status"] == "waiting"
    assert run["steps"][0]["output"]["waited"] is True
    bench.clock.advance(hours=1, minutes=59)
    await bench.run()
    assert target.to("/remind") == []
    bench.clock.advance(minutes=1)
    await bench.run()
    assert [r.json() for r in target.to("/remind")] == [{"cart": 3}]
    assert (await bench.runs(flow_id))[0]["status"] == "succeeded"


async def test_delay_until_a_time_from_a_field(bench: FlowBench, target: Receiver) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["booking.created"]},
            "steps": [
                {"id": "wait", "delay": {"until": "data.visit_at", "offset": "-1d"}},
                {"id": "remind", **_post(target.url + "/remind", {"visit": "{{ data.visit_at }}"})},
            ],
        }
    )
    visit = bench.clock.now() + timedelta(days=3)
    await bench.emit("booking.created", user_id="u1", data={"visit_at": visit.isoformat()})
    await bench.emit("booking.created", user_id="u2", data={"visit_at": "next tuesday"})
    await bench.emit(
        "booking.created",
        user_id="u3",
        data={"visit_at": int((visit - timedelta(days=5)).timestamp())},
    )
    await bench.run()
    assert len(target.to("/remind")) == 1  # u3's reminder time has passed: sent at once
    bench.clock.advance(days=2)
    await bench.run()
    assert len(target.to("/remind")) == 2
    runs = {run["event_id"]: run for run in await bench.runs(flow_id)}
    failed = [run for run in runs.values() if run["status"] == "failed"]
    assert len(failed) == 1
    assert "data.visit_at" in failed[0]["error"] and "next tuesday" in failed[0]["error"]


async def test_branch_takes_first_matching_path_then_continues(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["lead.scored"]},
            "steps": [
                {
                    "id": "route",
                    "branch": {
                        "paths": [
                            {
                                "name": "hot",
                                "when": {"score": {"$gte": 80}},
                                "steps": [{"id": "sales", **_post(target.url + "/sales")}],
                            },
                            {
                                "name": "warm",
                                "when": {"score": {"$gte": 50}},
                                "steps": [
                                    {"id": "wait", "delay": "1d"},
                                    {"id": "nurture", **_post(target.url + "/nurture")},
                                ],
                            },
                        ],
                        "default": [{"id": "stop_cold", "filter": {"force": True}}],
                    },
                },
                {
                    "id": "log",
                    **_post(
                        target.url + "/log",
                        {"score": "{{ data.score }}", "path": "{{ steps.route.path }}"},
                    ),
                },
            ],
        }
    )
    for score in (95, 60, 10, "ninety"):
        await bench.emit("lead.scored", user_id=f"u{score}", data={"score": score})
    await bench.run()
    assert len(target.to("/sales")) == 1
    assert target.to("/nurture") == []
    bench.clock.advance(days=1)
    await bench.run()
    assert len(target.to("/nurture")) == 1
    assert sorted(r.json()["path"] for r in target.to("/log")) == ["hot", "warm"]
    statuses = sorted(r["status"] for r in await bench.runs(flow_id))
    assert statuses == ["stopped", "stopped", "succeeded", "succeeded"]


async def test_step_retries_then_succeeds_and_honours_retry_after(
    bench: FlowBench, target: Receiver
) -> None:
    target.answer("/flaky", (503, {}), (429, {}), (200, {"ok": True}))
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["x"]},
            "steps": [{"id": "call", **_post(target.url + "/flaky")}],
        }
    )
    await bench.emit("x", user_id="u1")
    await bench.run()
    [run] = await bench.runs(flow_id)
    assert run["status"] == "running" and run["steps"][0]["status"] == "retrying"
    assert "503" in run["steps"][0]["error"]
    bench.clock.advance(seconds=10)
    await bench.run()
    bench.clock.advance(seconds=60)
    await bench.run()
    [run] = await bench.runs(flow_id)
    assert run["status"] == "succeeded"
    assert run["steps"][0]["attempts"] == 3
    ids = {r.headers["webhook-id"] for r in target.to("/flaky")}
    assert len(ids) == 1  # the same message id on every retry


async def test_permanent_failure_and_exhausted_retries_fail_the_run(
    bench: FlowBench, target: Receiver
) -> None:
    target.answer("/bad", (400, {"error": "invalid email"}))
    target.answer("/down", (500, {}))
    bad = await bench.flow(
        {"trigger": {"event_types": ["x"]}, "steps": [{"id": "call", **_post(target.url + "/bad")}]}
    )
    down = await bench.flow(
        {
            "trigger": {"event_types": ["x"]},
            "steps": [{"id": "call", **_post(target.url + "/down")}],
        }
    )
    await bench.emit("x", user_id="u1")
    for _ in range(4):
        await bench.run()
        bench.clock.advance(seconds=120)
    [run] = await bench.runs(bad)
    assert run["status"] == "failed" and "HTTP 400" in run["error"]
    assert run["steps"][0]["output"]["response"]["body"] == {"error": "invalid email"}
    [run] = await bench.runs(down)
    assert run["status"] == "failed" and run["steps"][0]["attempts"] == 3
    assert len(target.to("/down")) == 3


async def test_edits_make_versions_and_runs_finish_on_theirs(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["x"]},
            "steps": [
                {"id": "wait", "delay": "1h"},
                {"id": "send", **_post(target.url + "/v", {"v": 1})},
            ],
        }
    )
    await bench.emit("x", user_id="u1")
    await bench.run()
    async with bench.hub.database.transaction() as tx:
        record = await update_flow(
            bench.hub,
            tx,
            flow_id,
            {
                "steps": [
                    {"id": "wait", "delay": "1h"},
                    {"id": "send", **_post(target.url + "/v", {"v": 2})},
                ]
            },
        )
        assert record.version == 2
        renamed = await update_flow(bench.hub, tx, flow_id, {"description": "same logic"})
        assert renamed.version == 2
    await bench.emit("x", user_id="u2")
    await bench.run()
    bench.clock.advance(hours=1)
    await bench.run()
    assert sorted(r.json()["v"] for r in target.to("/v")) == [1, 2]
    assert sorted(r["version"] for r in await bench.runs(flow_id)) == [1, 2]


async def test_disabled_flows_start_nothing_but_runs_under_way_finish(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["x"]},
            "steps": [{"id": "wait", "delay": "1h"}, _post(target.url + "/d")],
        }
    )
    await bench.emit("x", user_id="u1")
    await bench.run()
    async with bench.hub.database.transaction() as tx:
        await set_enabled(bench.hub, tx, flow_id, False)
    await bench.emit("x", user_id="u2")
    bench.clock.advance(hours=1)
    await bench.run()
    assert len(target.to("/d")) == 1
    assert len(await bench.runs(flow_id)) == 1


async def test_mapping_problems_are_reported_with_field_and_value(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["lead"]},
            "steps": [
                {
                    "id": "fields",
                    "map": [
                        {
                            "target": "birthday",
                            "source": "data.birthday",
                            "convert": ["to_date"],
                            "format": "%Y/%m/%d",
                        },
                        {"target": "score", "source": "data.score", "convert": ["to_int"]},
                        {"target": "email", "source": "data.email"},
                    ],
                },
                _post(target.url + "/crm"),
            ],
        }
    )
    strict = await bench.flow(
        {
            "trigger": {"event_types": ["lead"]},
            "steps": [
                {
                    "id": "fields",
                    "on_problem": "stop",
                    "map": [{"target": "score", "source": "data.score", "convert": ["to_int"]}],
                },
                _post(target.url + "/never"),
            ],
        }
    )
    await bench.emit("lead", data={"birthday": "1990/02/31", "score": "12x", "email": "a@b.c"})
    await bench.run()
    [request] = target.to("/crm")
    assert request.json() == {"email": "a@b.c"}
    [run] = await bench.runs(flow_id)
    problems = {p["field"]: p for p in run["steps"][0]["problems"]}
    assert (
        problems["birthday"]["value"] == "1990/02/31"
        and problems["birthday"]["conversion"] == "to_date"
    )
    assert problems["score"]["value"] == "12x"
    [run] = await bench.runs(strict)
    assert run["status"] == "stopped" and target.to("/never") == []


async def test_liquid_errors_at_run_time_fail_the_run_not_the_worker(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["x"]},
            "steps": [
                {
                    "id": "body",
                    "template": {
                        "strict": True,
                        "source": '{\n "name": "{{ data.profile.name }}"\n}',
                    },
                },
                _post(target.url + "/never", "{{ steps.body }}"),
            ],
        }
    )
    json_flow = await bench.flow(
        {
            "trigger": {"event_types": ["x"]},
            "steps": [{"id": "body", "template": '{"n": {{ data.n }}}'}],
        }
    )
    await bench.emit("x", data={})
    await bench.emit("x", data={"profile": {"name": "Ann"}, "n": "not a number"})
    await bench.run()
    runs = await bench.runs(flow_id)
    assert [r["status"] for r in runs] == ["failed", "succeeded"]
    assert "line 2" in runs[0]["error"] and "body" in runs[0]["error"]
    assert len(target.to("/never")) == 1
    statuses = [r["status"] for r in await bench.runs(json_flow)]
    assert statuses == ["failed", "failed"]
    assert "rendered JSON is invalid" in (await bench.runs(json_flow))[1]["error"]


async def test_publish_and_profile_actions_chain_flows(bench: FlowBench, target: Receiver) -> None:
    await bench.flow(
        {
            "trigger": {"event_types": ["track"], "names": ["Order Completed"]},
            "steps": [
                {
                    "id": "points",
                    "action": {
                        "profile": {
                            "traits": {"last_order": "{{ data.total }}"},
                            "tags": {"add": ["buyer"]},
                        }
                    },
                },
                {
                    "id": "award",
                    "action": {
                        "publish": {
                            "type": "points.awarded",
                            "data": {"points": "{{ data.total }}"},
                        }
                    },
                },
            ],
        }
    )
    chained = await bench.flow(
        {"trigger": {"event_types": ["points.awarded"]}, "steps": [_post(target.url + "/points")]}
    )
    await bench.emit(name="Order Completed", user_id="u9", data={"total": 120})
    await bench.run()
    assert [r.json() for r in target.to("/points")] == [{"points": 120}]
    [run] = await bench.runs(chained)
    assert run["event_id"].endswith(".award")
    async with bench.hub.database.transaction() as tx:
        profile_id = await resolve_profile(tx, [("user_id", "u9")], now=bench.clock.now())
        profile = await get_profile(tx, profile_id)
    assert profile is not None
    assert profile.traits["last_order"]["value"] == 120
    assert profile.traits["tags"]["value"] == ["buyer"]


async def test_flows_publishing_to_each_other_stop_at_the_depth_limit(bench: FlowBench) -> None:
    for this, other in (("ping", "pong"), ("pong", "ping")):
        await bench.flow(
            {
                "trigger": {"event_types": [this]},
                "steps": [{"action": {"publish": {"type": other}}}],
            }
        )
    await bench.emit("ping", user_id="u1")
    await bench.run()
    async with bench.hub.database.read() as connection:
        from sqlalchemy import select

        from renkei.store.tables.flows import flow_runs

        rows = list(await connection.execute(select(flow_runs.c.status, flow_runs.c.error)))
    assert len(rows) == bench.hub.settings.flow_max_depth + 2
    assert sum(1 for status, _ in rows if status == "skipped") == 1
    assert any("loop" in (error or "") for _, error in rows)


async def test_trigger_filter_over_the_profile(bench: FlowBench, target: Receiver) -> None:
    async with bench.hub.database.transaction() as tx:
        await resolve_profile(
            tx, [("user_id", "gold")], now=bench.clock.now(), traits={"tier": "gold"}
        )
        await resolve_profile(
            tx, [("user_id", "plain")], now=bench.clock.now(), traits={"tier": "basic"}
        )
    flow_id = await bench.flow(
        {
            "trigger": {"event_types": ["x"], "filter": {"profile.traits.tier": "gold"}},
            "steps": [_post(target.url + "/vip", {"tier": "{{ profile.traits.tier }}"})],
        }
    )
    await bench.emit("x", user_id="gold")
    await bench.emit("x", user_id="plain")
    await bench.emit("x", user_id="unknown")
    await bench.run()
    assert [r.json() for r in target.to("/vip")] == [{"tier": "gold"}]
    assert sorted(r["status"] for r in await bench.runs(flow_id)) == [
        "skipped",
        "skipped",
        "succeeded",
    ]


async def run_due(engine: FlowEngine) -> int:
    """Run the queue's scheduler once, as a worker would: the ticks it enqueued."""
    enqueued, _ = await engine.hub.queue.run_due_schedules()
    return enqueued


async def test_scheduled_flow_fetches_and_reports(bench: FlowBench, target: Receiver) -> None:
    target.answer("/stats", (200, {"campaigns": [{"name": "spring", "sent": 100, "opens": 40}]}))
    flow_id = await bench.flow(
        {
            "trigger": {"schedule": {"every": "1d"}},
            "steps": [
                {
                    "id": "stats",
                    "action": {
                        "url": target.url + "/stats",
                        "method": "GET",
                        "query": {"since": "{{ data.period_start }}"},
                    },
                },
                {
                    "id": "report",
                    "template": {
                        "format": "text",
                        "source": "{% for c in steps.stats.response.body.campaigns %}{{ c.name }}: {{ c.opens | times: 100 | divided_by: c.sent }}% opened{% endfor %}",
                    },
                },
                _post(target.url + "/slack", {"text": "{{ steps.report }}"}),
            ],
        }
    )
    assert await run_due(bench.engine) == 0
    bench.clock.advance(days=1)
    assert await run_due(bench.engine) == 1
    assert await run_due(bench.engine) == 0  # one run per tick
    await bench.run()
    [stats] = target.to("/stats")
    assert stats.method == "GET" and "since=" in stats.path
    assert [r.json() for r in target.to("/slack")] == [{"text": "spring: 40% opened"}]
    [run] = await bench.runs(flow_id)
    assert run["event_id"].startswith(f"schedule:{flow_id}:")
