"""PayPal refunds in the payments table: reservations, refund records and the capture's counters.

A capture record (``PAYPAL#capture#<id>``) holds four counters in minor units: ``amount_minor``
(captured), ``refunded_minor`` (refunds recorded, at most ``amount_minor``), ``reserved_minor``
(refunds reserved and not yet settled) and ``refundable_minor`` (captured, less the refunds
recorded, less those reserved; never below zero: when PayPal reports more refunded than that left,
it is zero until the reservations settle, domain.paypal_refunds). Each write below is one
conditional write or one transaction, so that two refunds at once can never both take the same
remainder and a refund is never counted twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from payments.domain.paypal_refunds import NotRefundable, PayPalRefund, RefundReservation, ReservationState
from payments.dynamodb import all_items, cancellation_reasons, from_item, is_condition_failure, to_attributes, write_with_retry
from payments.errors import Busy
from payments.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REFUNDING = ("COMPLETED", "PARTIALLY_REFUNDED")
# Reads and conditional writes retried when a concurrent writer moved the item in between.
ATTEMPTS = 5
# The capture's refund status, each written only while the counters say so (a condition on the
# item itself), so a slower writer can never put back a status the counters have moved past.
REFUND_STATUSES = (
    ("REFUNDED", 4, "refunded_minor >= amount_minor"),
    ("PARTIALLY_REFUNDED", 3, "refunded_minor > :zero AND refunded_minor < amount_minor"),
)


@dataclass(frozen=True)
class _Counters:
    """A capture's counters as read, and the condition that they are still so when written."""

    amount: int
    refunded: int
    refundable: int
    reserved: int
    has_reserved: bool  # captures recorded before reserved_minor was kept have none until a reservation

    @property
    def unchanged(self) -> str:
        reserved = "reserved_minor = :was_reserved" if self.has_reserved else "attribute_not_exists(reserved_minor)"
        return f"refunded_minor = :was_refunded AND refundable_minor = :was_refundable AND {reserved}"

    @property
    def values(self) -> dict[str, int]:
        values = {":was_refunded": self.refunded, ":was_refundable": self.refundable}
        return values | ({":was_reserved": self.reserved} if self.has_reserved else {})


def _key(kind: str, object_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PAYPAL#{kind}#{object_id}"}, "sk": {"S": "OBJECT"}}


def _reservation_from_item(item: dict[str, Any]) -> RefundReservation:
    data = from_item(item)
    return RefundReservation(
        reservation_id=data["object_id"],
        capture_id=data["capture_id"],
        amount_minor=int(data["amount_minor"]),
        state=ReservationState(data["state"]),
        requested_by=data["requested_by"],
        created_at=int(data["created_at"]),
        refund=PayPalRefund.from_record(data["refund"]) if data.get("refund") else None,
        refusal=data.get("refusal"),
    )


class PayPalRefundRepository:
    def __init__(self, client: DynamoDBClient, payments_table: str) -> None:
        self._client = client
        self._table = payments_table

    def _transact(self, items: list[Any]) -> None:
        write_with_retry(lambda: self._client.transact_write_items(TransactItems=items))

    def reservation_for_request(self, fingerprint: str, window_seconds: int, now: int) -> str:
        """The reservation id of an identical request made within the window, or while that request's
        reservation is still unsettled (PayPal's answer not known: the money may have moved), or a new
        one: a double click or a retry after a lost answer lands on the first request's reservation,
        and so on its PayPal-Request-Id, however late it comes."""
        key = _key("refund_request", fingerprint)
        for _ in range(ATTEMPTS):
            result = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
            if "Item" in result:
                previous = from_item(result["Item"])
                previous_id = str(previous["reservation_id"])
                if int(previous["created_at"]) >= now - window_seconds:
                    return previous_id
                earlier = self.reservation(previous_id)
                if earlier is not None and earlier.state == ReservationState.RESERVED:
                    return previous_id
            else:
                previous_id = ""
            candidate = f"paypal-refund-{uuid.uuid4().hex}"
            try:
                # Written only if no other request wrote it meanwhile.
                self._client.put_item(
                    TableName=self._table,
                    Item={**key, **to_attributes({"reservation_id": candidate, "created_at": now})},
                    ConditionExpression="attribute_not_exists(pk) OR reservation_id = :previous",
                    ExpressionAttributeValues={":previous": {"S": previous_id}},
                )
            except Exception as error:
                if not is_condition_failure(error):
                    raise
                continue  # another identical request came meanwhile: read again
            return candidate
        raise Busy()

    def reservation(self, reservation_id: str) -> RefundReservation | None:
        result = self._client.get_item(TableName=self._table, Key=_key("refund_reservation", reservation_id), ConsistentRead=True)
        return _reservation_from_item(result["Item"]) if "Item" in result else None

    def reserve(self, reservation_id: str, capture_id: str, amount_minor: int | None, requested_by: str, now: int) -> RefundReservation:
        """Takes ``amount_minor`` (None: all that remains) from the capture's refundable remainder and
        records the reservation, in one transaction; the reservation already made under this id
        when there is one. NotRefundable when the remainder is smaller."""
        for _ in range(ATTEMPTS):
            existing = self.reservation(reservation_id)
            if existing is not None:
                return existing
            result = self._client.get_item(TableName=self._table, Key=_key("capture", capture_id), ConsistentRead=True)
            capture = from_item(result.get("Item") or {})
            remaining = int(capture.get("refundable_minor", 0))
            if capture.get("status") not in REFUNDING:
                raise NotRefundable(max(remaining, 0), f"the capture is {str(capture.get('status', 'unknown')).lower()}")
            amount = remaining if amount_minor is None else amount_minor
            if amount <= 0 or amount > remaining:
                raise NotRefundable(max(remaining, 0))
            reservation = RefundReservation(reservation_id, capture_id, amount, ReservationState.RESERVED, requested_by, now)
            item = {
                **_key("refund_reservation", reservation_id),
                **to_attributes(
                    {
                        "kind": "refund_reservation",
                        "object_id": reservation_id,
                        "capture_id": capture_id,
                        "amount_minor": amount,
                        "state": reservation.state.value,
                        "requested_by": requested_by,
                        "created_at": now,
                    }
                ),
            }
            transaction: list[Any] = [
                {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key("capture", capture_id),
                        "UpdateExpression": "SET refundable_minor = refundable_minor - :amount ADD reserved_minor :amount",
                        "ConditionExpression": "refundable_minor >= :amount AND #status IN (:completed, :partially)",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_attributes(
                            {":amount": amount, ":completed": REFUNDING[0], ":partially": REFUNDING[1]}
                        ),
                    }
                },
            ]
            try:
                self._transact(transaction)
            except Exception as error:
                if not is_condition_failure(error):
                    raise
                continue  # a reservation under this id, or the remainder moved meanwhile: read again
            return reservation
        raise Busy()

    def release(self, reservation: RefundReservation, refusal: str) -> None:
        """PayPal refused the refund: the reserved amount goes back to the remainder, once, never
        beyond what the refunds recorded leave of the capture."""
        for _ in range(ATTEMPTS):
            counters = self._counters(reservation.capture_id)
            if counters is None:
                return
            if self._release(reservation, refusal, counters):
                return
        raise Busy()

    def _release(self, reservation: RefundReservation, refusal: str, counters: _Counters) -> bool:
        """One attempt; False when the counters moved meanwhile."""
        reserved = max(0, counters.reserved - reservation.amount_minor)
        back = max(0, min(counters.refundable + reservation.amount_minor, counters.amount - counters.refunded - reserved))
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _key("refund_reservation", reservation.reservation_id),
                            "UpdateExpression": "SET #state = :released, refusal = :refusal",
                            "ConditionExpression": "#state = :reserved",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": to_attributes(
                                {
                                    ":released": ReservationState.RELEASED.value,
                                    ":reserved": ReservationState.RESERVED.value,
                                    ":refusal": refusal,
                                }
                            ),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _key("capture", reservation.capture_id),
                            "UpdateExpression": "SET refundable_minor = :back, reserved_minor = :reserved",
                            "ConditionExpression": counters.unchanged,
                            "ExpressionAttributeValues": to_attributes({":back": back, ":reserved": reserved} | counters.values),
                        }
                    },
                ]
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            # The reservation released already, or settled by the refund after all: nothing to give
            # back. Otherwise the counters moved meanwhile: read them again.
            return cancellation_reasons(error)[:1] == ["ConditionalCheckFailed"]
        return True

    def record(self, refund: PayPalRefund, owner: str, now: int) -> bool:
        """The refund and the capture's counters in one transaction, once per refund id. A refund
        carrying one of our reservation ids settles that reservation (its amount was taken from the
        remainder already); any other (made in PayPal's dashboard) takes its amount now. False when
        this refund was recorded before."""
        for _ in range(ATTEMPTS):
            reservation = self.reservation(refund.custom_id) if refund.custom_id else None
            if reservation is not None and (reservation.capture_id != refund.capture_id or reservation.state != ReservationState.RESERVED):
                reservation = None
            taken = reservation.amount_minor if reservation else 0
            counters = self._counters(refund.capture_id)
            if counters is None:
                raise NotRefundable(0, f"capture {refund.capture_id} is not recorded")
            # PayPal's word on the refund is recorded as it is; the counters are held in range
            # (domain.paypal_refunds: a refund beyond what remains).
            new_refunded = min(counters.refunded + refund.amount_minor, counters.amount)
            new_reserved = max(0, counters.reserved - taken)
            left = counters.refundable + taken - (new_refunded - counters.refunded)
            new_refundable = max(0, min(left, counters.amount - new_refunded - new_reserved))
            if refund.amount_minor > counters.refundable + taken:
                logger.warning(
                    "PayPal refund beyond the capture's remainder",
                    extra={"capture_id": refund.capture_id, "refund_id": refund.refund_id, "amount_minor": refund.amount_minor},
                )
            transaction: list[Any] = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_key("refund", refund.refund_id),
                            **to_attributes({"kind": "refund", "object_id": refund.refund_id, "owner": owner, "created_at": now})
                            | to_attributes(refund.to_record()),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key("capture", refund.capture_id),
                        "UpdateExpression": "SET refunded_minor = :refunded, refundable_minor = :refundable, reserved_minor = :reserved",
                        "ConditionExpression": counters.unchanged,
                        "ExpressionAttributeValues": to_attributes(
                            {":refunded": new_refunded, ":refundable": new_refundable, ":reserved": new_reserved} | counters.values
                        ),
                    }
                },
            ]
            if reservation is not None:
                transaction.append(
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _key("refund_reservation", reservation.reservation_id),
                            "UpdateExpression": "SET #state = :refunded, refund = :refund",
                            "ConditionExpression": "#state = :reserved",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": to_attributes(
                                {
                                    ":refunded": ReservationState.REFUNDED.value,
                                    ":reserved": ReservationState.RESERVED.value,
                                    ":refund": refund.to_record(),
                                }
                            ),
                        }
                    }
                )
            try:
                self._transact(transaction)
            except Exception as error:
                if not is_condition_failure(error):
                    raise
                if cancellation_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                    return False
                continue  # the counters moved or the reservation was settled meanwhile: read again
            return True
        raise Busy()

    def _counters(self, capture_id: str) -> _Counters | None:
        result = self._client.get_item(TableName=self._table, Key=_key("capture", capture_id), ConsistentRead=True)
        if "Item" not in result:
            return None
        capture = from_item(result["Item"])
        return _Counters(
            int(capture.get("amount_minor", 0)),
            int(capture.get("refunded_minor", 0)),
            int(capture.get("refundable_minor", 0)),
            int(capture.get("reserved_minor", 0)),
            "reserved_minor" in capture,
        )

    def settle_status(self, capture_id: str, now: int) -> str | None:
        """The capture's status as its counters say after a refund: REFUNDED or PARTIALLY_REFUNDED."""
        for status, rank, condition in REFUND_STATUSES:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_key("capture", capture_id),
                    UpdateExpression="SET #status = :status, state_rank = :rank, state_as_of = :now",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=to_attributes({":status": status, ":rank": rank, ":now": now})
                    | ({":zero": {"N": "0"}} if ":zero" in condition else {}),
                )
            except Exception as error:
                if not is_condition_failure(error):
                    raise
                continue
            return status
        return None

    def unsettled_reservations(self, created_before: int) -> list[RefundReservation]:
        """Reservations still waiting for PayPal's answer since before a time (a lost answer, a
        crash): a filtered scan, fine for an hourly job on a table of this size."""
        items = all_items(
            self._client.scan,
            TableName=self._table,
            FilterExpression="begins_with(pk, :prefix) AND #state = :reserved AND created_at < :before",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=to_attributes(
                {":prefix": "PAYPAL#refund_reservation#", ":reserved": ReservationState.RESERVED.value, ":before": created_before}
            ),
        )
        return [_reservation_from_item(item) for item in items]
