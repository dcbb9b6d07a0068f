"""What the domain needs from the outside, as narrow ports (``typing.Protocol``): the stores, the
provider gateways, the signature check and the clock. The domain imports no repository and no
provider (``make lint`` checks it with import-linter): ``payments.wiring`` hands each service the
implementations (``payments.repositories``, ``payments.providers``), and a test may hand it fakes.

The exceptions a port raises to the domain are the domain's too, defined here; the modules that
raise them re-export them under their old names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from payments.domain.admission import Admission, QueueEntry, QueueState
    from payments.domain.lifecycle import CheckoutSession, Event, StripeRefund, Ticket, TicketLine, TicketStatus, Trigger
    from payments.domain.records import MoneyRecord

# The kinds of provider objects kept with their owner and latest state (ProviderObjectStore).
PAYMENT_INTENT = "payment_intent"
CUSTOMER = "customer"
SUBSCRIPTION = "subscription"
ORDER = "order"
CAPTURE = "capture"


# tickets and events ----------------------------------------------------------------------------
class SoldOut(Exception):
    """Not enough seats left for the requested quantity."""


class UnpaidLimit(Exception):
    """The customer already holds as many unpaid seats for this event as they may."""

    def __init__(self, held: int) -> None:
        super().__init__(f"{held} unpaid seats held")
        self.held = held


class FreeSeatLimit(Exception):
    """The customer already holds as many free seats of this event as they may."""

    def __init__(self, held: int) -> None:
        super().__init__(f"{held} free seats held")
        self.held = held


class StateChanged(Exception):
    """The ticket was no longer in the state the write left from; re-read it."""


class AdmissionRefused(Exception):
    """A reservation's queue admission no longer holds (used already, or lapsed): nothing written."""


class TicketReader(Protocol):
    def get_ticket(self, ticket_id: int) -> Ticket | None: ...


class DoorTickets(TicketReader, Protocol):
    """What the door reads and writes: a pass by its code, and an admission in one conditional write."""

    def ticket_by_code(self, ticket_code: str) -> Ticket | None: ...

    def check_in(self, ticket: Ticket, count: int, now: int, *, event_id: int) -> Ticket: ...


class CustomerTickets(TicketReader, Protocol):
    """A customer's own tickets, a page at a time."""

    def tickets_of(self, owner: str, limit: int, after: Ticket | None = None) -> tuple[list[TicketLine], int | None]: ...


class EventStore(Protocol):
    def next_id(self, kind: str) -> int: ...

    def put_event(self, event: Event) -> None: ...

    def enable_queue(self, event: Event) -> None:
        """The event sold through an on-sale queue from now on, its queue started, in one write,
        while none of its seats is taken (every shard as created); StateChanged, nothing written,
        when one is, or when it has a queue already."""
        ...

    def update_event(self, event: Event, changes: dict[str, Any], seats: dict[int, int]) -> None:
        """An edit in one write: the event's ``changes`` (None clears a field) and its ``version``
        raised by one, conditioned on the version of ``event`` as read, with ``seats`` added to each
        shard's seats left and capacity (a cut only while that shard has as many left). StateChanged,
        nothing written, when the event was edited meanwhile or a shard has fewer seats left."""
        ...

    def get_event(self, event_id: int) -> Event | None: ...

    def list_events(self, limit: int, after: int | None = None) -> tuple[list[Event], int | None]: ...

    def ticket_lines(self, event: Event) -> Iterator[TicketLine]: ...


class UnsettledTickets(Protocol):
    """Tickets still in a state that the sweep or the reconciliation settles."""

    def unsettled(self, status: TicketStatus, expired_before: int | None = None, limit: int = 100) -> list[Ticket]: ...


class TicketStore(TicketReader, UnsettledTickets, Protocol):
    """The ticket life cycle's writes: each transition one conditional write on the state it leaves
    (StateChanged when the ticket moved on; SoldOut, UnpaidLimit or FreeSeatLimit, and nothing
    written, when seats cannot be taken). ``tests/contract`` holds the DynamoDB repository and the
    in-memory twin (``tests/support/memory_stores.py``) to the same answers."""

    def next_id(self, kind: str) -> int: ...

    def get_event(self, event_id: int) -> Event | None: ...

    def ticket_for_payment_intent(self, payment_intent: str) -> Ticket | None: ...

    def create(
        self,
        ticket: Ticket,
        unpaid_limit: int,
        seats_by_shard: dict[int, int] | None = None,
        *,
        free_limit: int,
        admission: Admission | None = None,
    ) -> Ticket:
        """With ``admission`` (a queued event), the buyer's admission is used in the same
        transaction: AdmissionRefused, nothing written, when it was used already or has lapsed."""
        ...

    def attach_session(self, ticket_id: int, session_id: str, checkout_url: str) -> None:
        """StateChanged, nothing written, for an unknown ticket or one bound to another session."""
        ...

    def apply(
        self,
        ticket: Ticket,
        trigger: Trigger,
        changes: dict[str, Any] | None = None,
        records: list[MoneyRecord] | None = None,
        expired_before: int | None = None,
        removed: tuple[str, ...] = (),
        money_as_read: bool = False,
    ) -> Ticket:
        """One transition with its whole effect, as one write: ``records`` are the money records
        the domain planned for it (``payments.domain.records``), each written in the store's own
        shape, unconditionally (one per payment or refund: a record written again replaces it)."""
        ...

    def record_money_back(
        self, ticket: Ticket, refund_amount: int, records: list[MoneyRecord], changes: dict[str, Any] | None = None
    ) -> Ticket: ...

    def owe_seat_refund(self, ticket: Ticket, key: str, quantity: int, amount: int, reason: str) -> Ticket:
        """A staff refund of ``quantity`` of a paid ticket's seats decided (``amount`` minor units,
        under ``key``, for ``reason``), before Stripe is asked: kept on the ticket and listed with the tickets whose
        refund is owed (the reconciliation finishes it), no seat moved yet. One conditional write on
        the ticket paid, without a seat refund owed, its ``refunded_quantity`` as read; StateChanged,
        nothing written, otherwise."""
        ...

    def refund_seats(
        self, ticket: Ticket, returned: dict[int, int], refund_amount: int, refunds_seen: str | None, records: list[MoneyRecord]
    ) -> Ticket:
        """The seat refund owed on ``ticket`` made at Stripe: its seats refunded (``refunded_quantity``
        up by them), ``returned`` (those of people not admitted, by shard) given back to their shards
        and out of ``seat_parts``, what went back of the payment and its ``records`` written, the
        refund owed cleared; one transaction conditioned on the ticket paid, the same refund owed,
        its admissions, seats and money as read. StateChanged, nothing written, otherwise."""
        ...

    def drop_seat_refund(self, ticket: Ticket) -> Ticket:
        """The seat refund owed on ``ticket`` given up (Stripe refused it; nothing moved): cleared,
        conditioned on the same one still owed. StateChanged otherwise."""
        ...


class QueueStore(Protocol):
    """The on-sale queues (``payments.domain.queue``): the buyers' places, each queue's admitter
    state and the uses of its admissions. ``tests/contract`` holds the DynamoDB repository and its
    in-memory twin to the same answers."""

    def join(self, event_id: int, owner: str, now_ms: int) -> tuple[QueueEntry, bool]:
        """The owner's place, taken now in arrival order, or the one they hold (False: not new)."""
        ...

    def entry(self, event_id: int, owner: str) -> QueueEntry | None: ...

    def view(self, event_id: int) -> QueueState | None:
        """The queue's state for a buyer's poll: a copy, possibly a step behind; None: no queue."""
        ...

    def state(self, event_id: int) -> QueueState:
        """The queue's state as the admitter last wrote it, read consistently."""
        ...

    def handed(self, event_id: int) -> dict[int, int]:
        """How many places each place counter has handed out (or skipped)."""
        ...

    def close_places(self, event_id: int, floors: dict[int, int]) -> None:
        """Raises each place counter below its floor to it: the places skipped are never handed out."""
        ...

    def used(self, event_id: int, epochs: list[int]) -> dict[int, int]:
        """How many admissions of each of ``epochs`` were used."""
        ...

    def save(self, event_id: int, read: QueueState, new: QueueState) -> bool:
        """``new`` written when the state is still ``read`` (False, nothing written, otherwise)."""
        ...

    def give_back(self, admission: Admission, ticket_id: int) -> bool:
        """The admission ``ticket_id``'s reservation used, unused again (its checkout never opened):
        the buyer's item, conditioned on naming that ticket, and the epoch's count of uses, in one
        write; False, nothing written, when the item names no such use."""
        ...

    def active_queues(self) -> list[int]: ...


class WebhookEventStore(Protocol):
    def is_processed(self, provider: str, event_id: str) -> bool: ...

    def mark_processed(self, provider: str, event_id: str, event_type: str, now: int) -> bool: ...


class CheckpointStore(Protocol):
    """Where a long job (the reconciliation) keeps how far it got."""

    def get(self, job: str) -> dict[str, Any]: ...

    def put(self, job: str, state: dict[str, Any]) -> None: ...


# provider objects ------------------------------------------------------------------------------
class ProviderObjectStore(Protocol):
    """Provider objects made through the API, each with its owner and the latest state the provider
    told us; a state older than the one kept is never applied (``apply_state`` returns None)."""

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None: ...

    def record(self, kind: str, object_id: str, owner: str, state: dict[str, Any], now: int) -> bool: ...

    def apply_state(
        self, kind: str, object_id: str, state: dict[str, Any], as_of: int, rank: int = 0, aspect: str = "state"
    ) -> dict[str, Any] | None: ...

    def unsettled(self, kind: str, settled_statuses: tuple[str, ...], created_since: int) -> list[dict[str, Any]]: ...

    def raise_to(self, kind: str, object_id: str, field: str, value: int) -> bool: ...


# providers -------------------------------------------------------------------------------------
class PayPalGateway(Protocol):
    """PayPal Orders v2 and Payments v2: each call that moves money carries ``PayPal-Request-Id``."""

    def create_order(self, order: dict[str, Any], request_id: str) -> dict[str, Any]: ...

    def get_order(self, order_id: str) -> dict[str, Any]: ...

    def capture_order(self, order_id: str, request_id: str) -> dict[str, Any]: ...

    def get_capture(self, capture_id: str) -> dict[str, Any]: ...

    def refund_capture(self, capture_id: str, refund: dict[str, Any], request_id: str) -> dict[str, Any]: ...


class StripePayments(Protocol):
    """Stripe's payment intents, customers and subscriptions (the direct payment endpoints)."""

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], description: str | None, idempotency_key: str
    ) -> dict[str, Any]: ...

    def confirm_payment_intent(
        self, intent_id: str, *, payment_method: str | None, return_url: str | None, idempotency_key: str
    ) -> dict[str, Any]: ...

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]: ...

    def create_customer(self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]: ...

    def create_subscription(self, *, customer: str, price: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]: ...

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]: ...

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]: ...


class StripeCheckout(Protocol):
    """Stripe Checkout for tickets, and what a ticket's payment became (its refunds and disputes)."""

    def create_checkout_session(
        self,
        *,
        ticket_id: int,
        product_name: str,
        currency: str,
        unit_amount: int,
        quantity: int,
        success_url: str,
        cancel_url: str,
        expires_at: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> CheckoutSession: ...

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession | None: ...

    def expire_checkout_session(self, session_id: str) -> CheckoutSession: ...

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]: ...

    def retrieve_payment_intent_status(self, intent_id: str) -> str: ...

    def refunds_of(self, payment_intent: str) -> list[StripeRefund]: ...

    def refund_rest(self, payment_intent: str, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund | None: ...

    def refund_part(self, payment_intent: str, amount: int, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund:
        """Refunds ``amount`` (minor units) of the payment. ChargeDisputed when the charge is disputed;
        ProviderRejected when Stripe refuses it otherwise (more than is left to refund)."""
        ...

    def disputes_of(self, payment_intent: str) -> list[dict[str, Any]]: ...


class SignatureRefused(Exception):
    """The delivery is not the provider's (or not ours, or too old); the reason is for our logs only."""


class StripeSignatures(Protocol):
    """Stripe's signature over the raw body as received, with our endpoint secret and Stripe's
    tolerance (``providers.stripe_gateway``); SignatureRefused when it does not hold."""

    def verify(self, payload: bytes, signature_header: str | None) -> None: ...


@dataclass(frozen=True)
class VerifiedDelivery:
    """What a valid signature proves: PayPal sent, under this transmission id, a body with this
    body's CRC32, which another body can share. The body's SHA-256 tells a retransmission (the same
    body) from a replay over another body; after ``acceptable_until`` the transmission time is
    outside the tolerance and any replay is refused without a record."""

    transmission_id: str
    body_sha256: str
    verified_at: int
    acceptable_until: int


class PayPalSignatures(Protocol):
    """PayPal's signature over the raw body as received (``providers.paypal_signature``): what it
    proves, or SignatureRefused."""

    def verify(self, headers: dict[str, str], body: bytes, webhook_id: str) -> VerifiedDelivery: ...


class TransmissionStore(Protocol):
    """Each verified transmission id with its body's digest, in one conditional write: False when the
    id is already kept with another body."""

    def record_transmission(self, provider: str, transmission_id: str, body_sha256: str, now: int, keep_until: int) -> bool: ...
