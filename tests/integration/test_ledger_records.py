"""What the webhook ledger and the reconciliation's checkpoint store in the payments table, item by
item (moto). The items outlive a deploy: a record written by one version is read by the next, so
their keys and attributes are a contract of their own, beside what the ports answer (which
tests/contract holds both store implementations to)."""

from __future__ import annotations

from decimal import Decimal

from payments.repositories.checkpoints import CheckpointRepository
from payments.repositories.webhook_events import RETENTION_SECONDS, WebhookEventRepository
from tests.support.dynamo import PAYMENTS, scan


def test_a_processed_event_is_kept_under_its_provider_and_id_for_thirty_days(dynamodb):
    ledger = WebhookEventRepository(dynamodb, PAYMENTS)

    assert ledger.mark_processed("stripe", "evt_1", "checkout.session.completed", 1_000)
    # a concurrent delivery of the same event that got there second is told so, and changes nothing
    assert not ledger.mark_processed("stripe", "evt_1", "checkout.session.completed", 1_005)

    assert scan(dynamodb, PAYMENTS) == [
        {
            "pk": "WEBHOOK#stripe#evt_1",
            "sk": "WEBHOOK",
            "provider": "stripe",
            "event_id": "evt_1",
            "type": "checkout.session.completed",
            "processed_at": 1_000,
            "ttl": 1_000 + 30 * 24 * 3600,
        }
    ]
    assert RETENTION_SECONDS == 30 * 24 * 3600


def test_a_transmission_is_kept_with_the_body_it_first_came_with_and_the_last_keep_until(dynamodb):
    ledger = WebhookEventRepository(dynamodb, PAYMENTS)

    assert ledger.record_transmission("paypal", "t-1", "sha-a", now=1_000, keep_until=5_000)
    assert ledger.record_transmission("paypal", "t-1", "sha-a", now=1_001, keep_until=5_001)  # retransmitted
    assert not ledger.record_transmission("paypal", "t-1", "sha-b", now=1_002, keep_until=5_002)  # another body: refused

    assert scan(dynamodb, PAYMENTS) == [
        {
            "pk": "WEBHOOK_TRANSMISSION#paypal#t-1",
            "sk": "TRANSMISSION",
            "provider": "paypal",
            "transmission_id": "t-1",
            "body_sha256": "sha-a",
            "recorded_at": 1_001,
            "ttl": 5_001,
        }
    ]


def test_a_checkpoint_is_one_item_per_job_and_reads_back_without_its_key(dynamodb):
    checkpoints = CheckpointRepository(dynamodb, PAYMENTS)

    checkpoints.put("reconcile", {"after": 17, "cursor": "cs_9"})
    checkpoints.put("reconcile", {"after": 18})
    checkpoints.put("sweep", {"after": 3})

    assert sorted(scan(dynamodb, PAYMENTS), key=lambda item: item["pk"]) == [
        {"pk": "CHECKPOINT#reconcile", "sk": "CHECKPOINT", "after": 18},
        {"pk": "CHECKPOINT#sweep", "sk": "CHECKPOINT", "after": 3},
    ]
    assert checkpoints.get("reconcile") == {"after": Decimal(18)}
    assert checkpoints.get("sweep") == {"after": Decimal(3)}
    assert checkpoints.get("never-run") == {}
