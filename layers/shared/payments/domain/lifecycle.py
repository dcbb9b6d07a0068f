"""The ticket life cycle: the entities of the checkout, their states, and the one table of transitions.

Every change of a ticket's state is one conditional write on the exact state it leaves (the
repository builds it from the row below), together with its effect on the event's seats and the
money records. Nothing else writes a ticket's status.

A ticket holds seats while it is ``reserved``, ``processing`` or ``paid``; a ``refunding`` or
``refunded`` ticket keeps only the seats of its people already admitted at the door (``checked_in``:
they are in the venue), so admissions never exceed capacity. For every event, seats held +
``available`` == ``capacity``. A large event's seats are split across shards (see ``seat_parts``),
each its own item, so that an on-sale's purchases do not all write one item; the same holds for
every shard, and a ticket gives its seats back to the shards it took them from (the admitted ones
counted first, shard by shard: ``Ticket.unadmitted_parts``); a partly admitted ticket taking seats
again keeps its admitted people's and takes the rest back where it gave them while all still free
there, else from any shard with room, its ``seat_parts`` then naming both.

Money per payment adds up, at Stripe and in our records: money taken = money kept + money returned,
where money returned is the sum of the payment's refunds made (succeeded or on their way) and of its
disputes lost, in integer minor units, read from Stripe whenever a refund or a dispute changes
(whoever made it, in whatever order the webhooks arrive: a fact about a payment whose own webhook
has not come yet finds its ticket through the payment's metadata, checked against the ticket's
Checkout Session). The ticket's ``refund_amount`` is that sum, each refund and lost dispute a record
of its own with its own reason and status: the records mirror Stripe's one to one, rewritten whenever
any of them changes (a status, a new refund), not only when the sum does (``refunds_seen``, a digest
of what they were written from, tells), and every write of the sum is conditioned on the sum and that
digest as read. Every payment we took has exactly one payment record, whatever the order: written by
the transition that first brings the payment to the ticket (PAID, a late payment's REFUND_DUE, or
REFUNDED of a ticket whose payment had not reached it). Paying a ticket reads the payment's refunds
first (one Stripe call) and applies them in the same write, so a payment all gone back goes straight
to ``refunded`` and never seats anyone. When all of it has gone back the ticket is ``refunded``
and never admitted; a partial refund leaves it as it is (staff returned part of the price, not the
admission).

========== ======================= ====================================== ========== ======= ==========================
from       trigger                 condition (besides the state)          to         seats   money
========== ======================= ====================================== ========== ======= ==========================
(new)      ISSUE_FREE              enough seats                           paid       take    none (price 0)
(new)      RESERVE                 enough seats                           reserved   take    Checkout Session opened
reserved   PAID                    session bound, amount and currency     paid       keep    payment recorded
processing PAID                    the same                               paid       keep    payment recorded
cancelled  PAID                    the same; seats still free (late)      paid       take    payment recorded
expired    PAID                    the same; seats still free (late)      paid       take    payment recorded
reserved   PAYMENT_PROCESSING      session complete, payment unpaid       processing keep    none yet (bank debit)
reserved   PAYMENT_FAILED          delayed payment failed                 cancelled  return  none
processing PAYMENT_FAILED          delayed payment failed                 cancelled  return  none
reserved   CANCEL                  owner asked; session closed at Stripe  cancelled  return  none
paid       GIVE_BACK               free; owner asked; nobody admitted yet cancelled  return  none (holder's count down)
reserved   EXPIRE                  ``expires_at`` passed (or Stripe said) expired    return  none
cancelled  REFUND_DUE              paid late and sold out                 refunding  none    payment rec.; refund owed
expired    REFUND_DUE              paid late and sold out                 refunding  none    payment rec.; refund owed
paid       REFUND_DUE              staff refund                           refunding  return* refund owed (the rest)
refunded   REFUND_DUE              a refund failed later; seats sold (or  refunding  none    refund owed again
                                   not the one that completed it)
refunding  REFUNDED                all the money back (our refund, found) refunded   none    refunds recorded
refunding  REFUND_REFUSED          Stripe refuses: charge disputed        paid       take*   none (the dispute decides)
paid       REFUNDED                all back: Dashboard refunds / disputes refunded   return* refunds recorded
reserved   REFUNDED                the same, before its payment webhook   refunded   return  payment + refunds rec.
processing REFUNDED                the same, before its payment webhook   refunded   return  payment + refunds rec.
cancelled  REFUNDED                late payment refunded in the Dashboard refunded   none    payment + refunds rec.
expired    REFUNDED                late payment refunded in the Dashboard refunded   none    payment + refunds rec.
refunded   REFUND_FAILED           a refund failed later; seats free      paid       take*   refund record failed
========== ======================= ====================================== ========== ======= ==========================

``*``: the seats of people not yet admitted only; a write that moves seats is also conditioned on
the ticket's ``checked_in`` as read, so an admission racing a refund is never given back for sale.

Staff may refund some of a paid ticket's seats (docs/lifecycle.md, partial refunds): the ticket
stays ``paid`` throughout, so these are not rows of the table but two writes of their own, each
conditioned on the ticket as read: the refund decided (``seat_refund_*``, on ``refunded_quantity``
as read), then, once made at Stripe, recorded with its seats (``refunded_quantity`` up, the seats of
people not admitted back: ``seat_parts`` says what the ticket still takes, ``seats_taken``).

``refunding`` is entered before any refund call, so no other path (a verify, a webhook retry, the
reconciliation) can seat a ticket whose money is going back. Our refund returns what has not gone
back yet (Stripe refunds the rest of the charge), under the idempotency key
``ticket-refund-{ticket}``, suffixed by the number of the payment's refunds that failed, so that a
refund made again after a failure is a new refund and not the failed one replayed, and by a digest
of the request (payment and metadata, our reason included), so that a retry of the same request
gets Stripe's replay while another one (a second reason after Stripe refused a disputed charge) is
never answered ``idempotency_error``; no key refunds twice, since once nothing is left Stripe
answers ``charge_already_refunded``. Should Stripe still answer ``idempotency_error``, nothing moved:
the caller gets a 409 and the ticket stays ``refunding`` for the reconciliation. After the call
what went back is read again (a refund may have failed, or another been made, meanwhile), never
added to a list read before it. A staff refund of a ticket already ``refunded`` (a double click, a
retry after a lost answer) answers the refund that completed it and moves no money. A refund call
that fails leaves the ticket ``refunding`` and the reconciliation finishes it. A refund Stripe
refuses because the charge is disputed follows the dispute: when a lost dispute (with the refunds
before it) has returned everything, the ticket is ``refunded``; otherwise it is ``paid`` again if
its seats are still free, and otherwise stays ``refunding`` for a person (the reconciliation
reports it on every run).

A refund that fails later (``charge.refund.updated`` / ``refund.updated`` / ``refund.failed``, its
status ``failed`` or ``canceled``) is not money returned: its record says so and the sum drops. A
``refunded`` ticket whose money is no longer all back is ``paid`` again (REFUND_FAILED) when its
seats are still free: the customer keeps what they paid for and staff may refund it again (a new
refund, a new key); when its seats were sold meanwhile it is ``refunding`` again (REFUND_DUE) and
the reconciliation makes the refund again. So it is, seats free or not, when the refund that failed
is not the one that completed it (an earlier staff partial refund, or a partial one in the
Dashboard): the refund that gave its seats back stands, so there is nothing to be paid again for,
and what the failed one no longer returns is owed (unless a dispute was lost: nothing more of a
disputed charge can be refunded, so it is paid again while its seats are free, as a ticket whose
money went back only in part: a partial refund or a lost dispute returns part of the price, not
the admission, and the final state is the same in whichever order Stripe's facts arrive). A staff
seat refund made at Stripe and not
yet recorded when the rest of the payment goes back is counted in the write that refunds the
ticket (``refunded_quantity``, ``seat_parts``), so a later failure of the refund that completed it
takes again only the seats whose price is kept. Either way staff are told: the audit line
``ticket.refund_failed`` and its metric ``RefundsFailed``, alarmed like late refunds and disputes.
Stripe does not retry a failed refund itself, and the same card usually fails again, so it is not
made again while the customer can be seated. ``processing`` tickets are left alone by the sweep and
cannot be cancelled: their money may still arrive.

A free ticket has no money to return: its holder gives it back (GIVE_BACK, through the cancel
route) until someone it admits has come in, and the holder's count of free seats for the event goes
down in the same transaction. That count (``FREE#{event}#{owner}``), like the unpaid seats'
(``UNPAID#...``), is taken with the seats, conditioned on the per-account limit; a missing count
holds nothing, so it admits a first order only when that order alone fits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from payments.limits import MAX_SEAT_SHARDS


class TicketStatus(StrEnum):
    RESERVED = "reserved"
    PROCESSING = "processing"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


class Trigger(StrEnum):
    ISSUE_FREE = "issue_free"
    RESERVE = "reserve"
    PAID = "paid"
    PAYMENT_PROCESSING = "payment_processing"
    PAYMENT_FAILED = "payment_failed"
    CANCEL = "cancel"
    GIVE_BACK = "give_back"  # a free ticket returned by its holder, before anyone it admits came in
    EXPIRE = "expire"
    REFUND_DUE = "refund_due"
    REFUNDED = "refunded"
    REFUND_REFUSED = "refund_refused"
    REFUND_FAILED = "refund_failed"


class Seats(StrEnum):
    TAKE = "take"
    KEEP = "keep"
    RETURN = "return"
    NONE = "none"


@dataclass(frozen=True)
class Transition:
    source: TicketStatus | None
    trigger: Trigger
    target: TicketStatus
    seats: Seats


_S = TicketStatus
TRANSITIONS: dict[tuple[TicketStatus | None, Trigger], Transition] = {
    (row.source, row.trigger): row
    for row in (
        Transition(None, Trigger.ISSUE_FREE, _S.PAID, Seats.TAKE),
        Transition(None, Trigger.RESERVE, _S.RESERVED, Seats.TAKE),
        Transition(_S.RESERVED, Trigger.PAID, _S.PAID, Seats.KEEP),
        Transition(_S.PROCESSING, Trigger.PAID, _S.PAID, Seats.KEEP),
        Transition(_S.CANCELLED, Trigger.PAID, _S.PAID, Seats.TAKE),
        Transition(_S.EXPIRED, Trigger.PAID, _S.PAID, Seats.TAKE),
        Transition(_S.RESERVED, Trigger.PAYMENT_PROCESSING, _S.PROCESSING, Seats.KEEP),
        Transition(_S.RESERVED, Trigger.PAYMENT_FAILED, _S.CANCELLED, Seats.RETURN),
        Transition(_S.PROCESSING, Trigger.PAYMENT_FAILED, _S.CANCELLED, Seats.RETURN),
        Transition(_S.RESERVED, Trigger.CANCEL, _S.CANCELLED, Seats.RETURN),
        Transition(_S.PAID, Trigger.GIVE_BACK, _S.CANCELLED, Seats.RETURN),
        Transition(_S.RESERVED, Trigger.EXPIRE, _S.EXPIRED, Seats.RETURN),
        Transition(_S.CANCELLED, Trigger.REFUND_DUE, _S.REFUNDING, Seats.NONE),
        Transition(_S.EXPIRED, Trigger.REFUND_DUE, _S.REFUNDING, Seats.NONE),
        Transition(_S.PAID, Trigger.REFUND_DUE, _S.REFUNDING, Seats.RETURN),
        Transition(_S.REFUNDED, Trigger.REFUND_DUE, _S.REFUNDING, Seats.NONE),
        Transition(_S.REFUNDING, Trigger.REFUNDED, _S.REFUNDED, Seats.NONE),
        Transition(_S.REFUNDING, Trigger.REFUND_REFUSED, _S.PAID, Seats.TAKE),
        Transition(_S.PAID, Trigger.REFUNDED, _S.REFUNDED, Seats.RETURN),
        Transition(_S.RESERVED, Trigger.REFUNDED, _S.REFUNDED, Seats.RETURN),
        Transition(_S.PROCESSING, Trigger.REFUNDED, _S.REFUNDED, Seats.RETURN),
        Transition(_S.CANCELLED, Trigger.REFUNDED, _S.REFUNDED, Seats.NONE),
        Transition(_S.EXPIRED, Trigger.REFUNDED, _S.REFUNDED, Seats.NONE),
        Transition(_S.REFUNDED, Trigger.REFUND_FAILED, _S.PAID, Seats.TAKE),
    )
}

# States in which a ticket holds its seats (seats held + available == capacity).
HOLDS_SEATS = frozenset({_S.RESERVED, _S.PROCESSING, _S.PAID})
# Seats held by a customer who has not paid (yet): counted against their per-event limit.
UNPAID_HOLDS = frozenset({_S.RESERVED, _S.PROCESSING})
# Released reservations: a payment that still arrives is late.
RELEASED = frozenset({_S.CANCELLED, _S.EXPIRED})
# Tickets whose money is not settled yet; the reconciliation looks at them whatever their age.
UNSETTLED = frozenset({_S.RESERVED, _S.PROCESSING, _S.REFUNDING})


def transition(source: TicketStatus | None, trigger: Trigger) -> Transition | None:
    """The row for ``trigger`` from ``source``, or None when the trigger does not apply there."""
    return TRANSITIONS.get((source, trigger))


class Outcome(StrEnum):
    """What applying a payment fact to a ticket did; ``ALREADY_*`` and ``NOTHING`` mean no write."""

    PAID = "paid"
    ALREADY_PAID = "already_paid"
    PROCESSING = "processing"
    RELEASED = "released"
    REFUNDED = "refunded"
    ALREADY_REFUNDED = "already_refunded"
    REFUND_REFUSED = "refund_refused"  # Stripe refuses a disputed charge's refund: paid again
    REFUND_FAILED = "refund_failed"  # a refund failed later: paid again, or its refund owed again
    SEATS_REFUNDED = "seats_refunded"  # a staff refund of some seats made and recorded: the ticket keeps the rest
    NOTHING = "nothing"

    @property
    def changed(self) -> bool:
        return self in (
            Outcome.PAID,
            Outcome.PROCESSING,
            Outcome.RELEASED,
            Outcome.REFUNDED,
            Outcome.REFUND_REFUSED,
            Outcome.REFUND_FAILED,
            Outcome.SEATS_REFUNDED,
        )


# A staff refund of some seats decided and not yet finished (``Ticket.seat_refund_*``): cleared
# together once it is made and recorded, given up, or moot (the whole payment back).
SEAT_REFUND_FIELDS = ("seat_refund_key", "seat_refund_quantity", "seat_refund_amount_minor", "seat_refund_reason")

# DynamoDB takes about 1,000 writes a second on one item, a transaction costing two, and overlapping
# transactions on one item conflict well before that: an event gets a seat shard per thousand seats.
SEATS_PER_SHARD = 1000


def seat_shards_for(capacity: int) -> int:
    return max(1, min(MAX_SEAT_SHARDS, -(-capacity // SEATS_PER_SHARD)))


def shard_capacities(capacity: int, shards: int) -> list[int]:
    """The capacity split as evenly as whole seats allow."""
    base, extra = divmod(capacity, shards)
    return [base + (1 if shard < extra else 0) for shard in range(shards)]


def seat_parts(available: dict[int, int], quantity: int, start: int) -> dict[int, int] | None:
    """Where a ticket of ``quantity`` takes its seats, given each shard's seats left: all from the
    first shard with enough, looking from ``start`` on (a random start spreads the buyers); else from
    the fullest shards, as few as possible; None when the event as a whole lacks them."""
    shards = sorted(available)
    if not shards or sum(available.values()) < quantity:
        return None
    offset = start % len(shards)
    for shard in shards[offset:] + shards[:offset]:
        if available[shard] >= quantity:
            return {shard: quantity}
    parts: dict[int, int] = {}
    for shard in sorted(shards, key=lambda shard: -available[shard]):
        taken = min(available[shard], quantity - sum(parts.values()))
        if taken > 0:
            parts[shard] = taken
    return parts


@dataclass
class Event:
    event_id: int
    name: str
    price: Decimal
    currency: str
    capacity: int
    available: int
    created_by: str
    created_at: int
    seat_shards: int = 1
    # Seats left by shard, as read with the event (None until read): a purchase plans from them.
    seats_by_shard: dict[int, int] | None = None
    # Sold through an admission queue (payments.domain.queue): only admitted buyers reserve.
    on_sale_queue: bool = False
    # What staff say of it and when it starts (Unix seconds); shown, never a rule of the sale.
    description: str | None = None
    starts_at: int | None = None
    # The sale window (Unix seconds): purchases from ``opens_at`` on, before ``closes_at``; and a
    # pause staff set and lift (payments.domain.events.sale_refusal).
    opens_at: int | None = None
    closes_at: int | None = None
    sales_paused: bool = False
    # Edits made so far: each edit is conditioned on the count it read (payments.domain.events).
    version: int = 0

    @property
    def is_free(self) -> bool:
        return self.price == 0


@dataclass
class Ticket:
    ticket_id: int
    event_id: int
    owner: str
    quantity: int
    status: TicketStatus
    ticket_code: str
    currency: str
    unit_amount: int
    created_at: int
    expires_at: int | None = None
    session_id: str | None = None
    checkout_url: str | None = None
    payment_intent: str | None = None
    paid_at: int | None = None
    released_at: int | None = None
    refund_id: str | None = None
    refund_reason: str | None = None
    # A whole refund asked by a staff request with an Idempotency-Key: the seats asked (``first-last``
    # when it asked for the last seats, ``all`` for the whole ticket), a digest of its reason and the
    # request's tag, so that its retry, cut off before its answer, finds the refund its own.
    refund_request: str | None = None
    refunded_at: int | None = None
    late_payment: bool | None = None
    # Seats by shard, for an event with more than one; None: all from the event's one shard.
    seat_parts: dict[int, int] | None = None
    # People admitted at the door so far (at most ``quantity``), and when the last of them came in.
    checked_in: int = 0
    checked_in_at: int | None = None
    # What went back of its payment so far, in minor units: refunds made and disputes lost, summed.
    refund_amount: int | None = None
    # Which of Stripe's refunds and lost disputes (id, status, amount) ``refund_amount`` and the refund
    # records were written from, as a digest: they are written again whenever any of them changes.
    refunds_seen: str | None = None
    # The door pass: the QR code of ``ticket_code`` as base64 PNG, drawn once, when the ticket became valid.
    qr_png: str | None = None
    # Seats of ``quantity`` refunded by staff while the ticket stays paid (partial refunds): their
    # money went back, and those of people not admitted went back on sale (``seat_parts`` then says
    # what the ticket still takes). ``quantity`` stays what was bought and paid (``amount_total``).
    refunded_quantity: int = 0
    # A staff refund of some seats decided and not yet finished: how many seats, how much (minor
    # units) and its key (``ticket-seat-refund-{ticket}-{first}-{last}-{request tag}``; Stripe's
    # idempotency key adds a digest of the reason), the same on every retry until it is finished.
    seat_refund_key: str | None = None
    seat_refund_quantity: int | None = None
    seat_refund_amount_minor: int | None = None
    seat_refund_reason: str | None = None

    @property
    def parts(self) -> dict[int, int]:
        return self.seat_parts or {0: self.quantity}

    @property
    def quantity_held(self) -> int:
        """The seats the ticket still holds: bought, less those refunded by staff partial refunds."""
        return self.quantity - self.refunded_quantity

    @property
    def seats_taken(self) -> int:
        """The seats a ticket holding seats takes from its event: those it still holds, or its admitted
        people if more (admitted before some seats were refunded: they keep their seats)."""
        return max(self.quantity_held, self.checked_in)

    @property
    def unadmitted_parts(self) -> dict[int, int]:
        """The seats whose people have not come in, by shard: those a refund gives back (and a
        refused or failed refund takes again). The admitted are counted from the lowest shard up."""
        admitted, left = self.checked_in, {}
        for shard in sorted(self.parts):
            kept = min(admitted, self.parts[shard])
            admitted -= kept
            if self.parts[shard] > kept:
                left[shard] = self.parts[shard] - kept
        return left

    @property
    def admits(self) -> bool:
        """Valid at the door: paid (or free). Reserved, processing, released or refunded tickets are not."""
        return self.status == TicketStatus.PAID

    @property
    def amount_total(self) -> int:
        return self.unit_amount * self.quantity

    @property
    def is_free(self) -> bool:
        return self.unit_amount == 0


@dataclass(frozen=True)
class TicketLine:
    """A ticket as the owner's and the event's indexes hold it: enough for a list and for the sales."""

    ticket_id: int
    event_id: int
    quantity: int
    status: TicketStatus
    ticket_code: str
    unit_amount: int
    checked_in: int = 0
    refund_amount: int | None = None
    # Seats refunded by staff while the ticket stays paid (``Ticket.refunded_quantity``).
    refunded_quantity: int = 0


@dataclass(frozen=True)
class CheckoutSession:
    """A Stripe Checkout Session as the checkout sees it."""

    id: str
    url: str | None
    status: str
    payment_status: str
    payment_intent: str | None
    ticket_id: int | None
    amount_total: int | None
    currency: str | None

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")

    @property
    def is_processing(self) -> bool:
        """Complete, but a delayed payment method (a bank debit) has not settled yet."""
        return self.status == "complete" and self.payment_status == "unpaid"

    @property
    def is_expired(self) -> bool:
        return self.status == "expired"


@dataclass(frozen=True)
class StripeRefund:
    """A refund (or a lost dispute) of a ticket's payment, as Stripe reports it: ``status`` is the
    refund's (``succeeded``, ``pending``, ``requires_action``, ``failed``, ``canceled``) or ``lost``
    for a dispute; ``reason`` ours from its metadata, when we made it."""

    id: str
    amount: int
    currency: str
    status: str = "succeeded"
    reason: str | None = None
    # The staff partial refund it made (its idempotency key, kept in its metadata), when it is one.
    seat_refund: str | None = None
    # The staff requests (their tags, from the clients' Idempotency-Keys, space-separated: the one
    # that made it and the one that decided it) whose whole refund it is, from its metadata.
    request: str | None = None

    @property
    def returned(self) -> bool:
        """Money that has gone (or is on its way) back to the customer."""
        return self.status in ("succeeded", "pending", "requires_action", "lost")
