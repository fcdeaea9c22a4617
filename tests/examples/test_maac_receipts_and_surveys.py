"""MAAC: validated receipts to the CRM (a delivery) and the points system; SurveyCake
submissions to the reservation system."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, receivers
from tests.flows.receivers import assert_signed

pytestmark = pytest.mark.timeout(120)


async def test_receipts_and_surveys_are_forwarded(database_url: str) -> None:
    async with playbook(database_url) as book:
        with receivers("crm", "points", "reservations") as hooks:
            await book.apply(
                "maac-receipts-and-surveys",
                {
                    "CRM_URL": hooks["crm"].url,
                    "POINTS_URL": hooks["points"].url,
                    "RESERVATION_URL": hooks["reservations"].url,
                },
            )
            receipt = {
                "receipt_id": "R-1001",
                "amount": 1250,
                "store_name": " Taipei 101 ",
                "member": {"id": "m-42"},
                "purchased_at": "2026-02-01T10:00:00+08:00",
            }
            book.publish("receipt.receipt_validated", receipt, event_id="maac-evt-1")
            book.publish(
                "receipt.receipt_validated", receipt, event_id="maac-evt-1"
            )  # a redelivery
            book.publish(
                "receipt.receipt_validated",
                {**receipt, "receipt_id": "R-1002", "amount": 60},
                event_id="maac-evt-2",
            )
            book.publish(
                "form.surveycake_submitted",
                {
                    "survey_id": "sv-1",
                    "answers": {
                        "name": " Lin ",
                        "phone": "0912-345-678",
                        "reservation_type": "test_drive",
                        "store": "Xinyi",
                        "preferred_date": "2026/03/14",
                    },
                },
            )
            book.publish(
                "form.surveycake_submitted",
                {"survey_id": "sv-2", "answers": {"name": "Wu", "reservation_type": "newsletter"}},
            )
            await book.run()

            crm = hooks["crm"].to("/maac/receipts")
            assert sorted(r.json()["data"]["receipt_id"] for r in crm) == ["R-1001", "R-1002"]
            first = next(r.json() for r in crm if r.json()["data"]["receipt_id"] == "R-1001")
            assert first["type"] == "crm.receipt"
            assert first["data"] == {
                "receipt_id": "R-1001",
                "member_id": "m-42",
                "amount": 1250,
                "store": "Taipei 101",
                "purchased_at": "2026-02-01T10:00:00+08:00",
            }
            endpoint = next(
                e for e in book.api.get("/api/v1/endpoints").json()["data"] if e["name"] == "crm"
            )
            secret = book.api.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]
            for request in crm:
                assert_signed(secret, request)

            [points] = hooks["points"].to("/points")  # R-1002 earns no points
            assert points.json() == {
                "member_id": "m-42",
                "points": 12,
                "reason": "receipt R-1001",
                "idempotency_key": "maac-evt-1",
            }
            assert book.statuses("receipt-to-crm-and-points") == ["succeeded", "stopped"]

            [reservation] = hooks["reservations"].to("/reservations")
            assert reservation.json() == {
                "name": "Lin",
                "phone": "0912-345-678",
                "type": "test_drive",
                "store": "Xinyi",
                "date": "2026-03-14",
                "source": "surveycake",
                "survey_id": "sv-1",
            }
            assert book.statuses("survey-to-reservations") == ["succeeded"]
