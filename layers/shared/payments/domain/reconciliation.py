"""Reconciliation from both sides: what Stripe and PayPal did that a lost webhook kept from us, and
our own tickets that are still unsettled (reserved past expiry, processing, refunding) whatever
their age, compared with the provider.

Stripe's side is read from its events, by when things changed, not from its objects by when they
were created: a dispute decided weeks after it opened, a refund made in the Dashboard on an old
payment, a bank debit that settles days later are each an event of the day they happened. Stripe
keeps events for 30 days; each event is applied through the Stripe webhook's own handlers and
ledger, so an event a webhook already applied is a duplicate, and a webhook that still arrives
after the reconciliation applied its event is one too.

Every repair goes through the same conditional writes as the webhooks, so a second run repairs and
reports nothing. A run that nears its time limit stops between two objects and leaves a
checkpoint: the window of its pass, the phase (our unsettled tickets, Stripe's listings, PayPal),
the last event or object it handled, and whether anything failed so far; the next run continues
from it, so no phase is done again by every run. A pass that had any failure (an object, a listing)
keeps its window for the next pass instead of moving it on."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from payments.context import system_time
from payments.domain.lifecycle import Outcome, TicketStatus
from payments.domain.paypal_objects import capture_state, first_capture
from payments.domain.paypal_refunds import PayPalRefundService
from payments.domain.ports import CAPTURE, ORDER, CheckpointStore, PayPalGateway, ProviderObjectStore, StateChanged, UnsettledTickets
from payments.domain.tickets import TicketService
from payments.domain.webhooks import MALFORMED
from payments.errors import ApiError
from payments.observability import audit, logger

JOB = "reconciliation"
ORDER_FINAL = ("COMPLETED", "VOIDED")
CAPTURE_FINAL = ("REFUNDED", "DECLINED", "FAILED")
# Every capture status but PENDING: a capture PayPal holds (an eCheck, a review) may complete days
# later, so pending captures are looked up whatever their age.
NOT_PENDING = ("COMPLETED", "PARTIALLY_REFUNDED", *CAPTURE_FINAL)
# Stripe lists events going back 30 days and no further: the farthest back a pass can look.
EVENT_RETENTION_SECONDS = 30 * 24 * 3600
# Stripe takes at most 20 event types in one listing.
TYPES_PER_LISTING = 20
# PayPal retries a webhook over about 3 days: our unsettled PayPal records of that age are compared.
PAYPAL_LOOKBACK_SECONDS = 3 * 24 * 3600 + 3600
# Each pass overlaps the previous one by this much: an event created while it ran is not missed.
OVERLAP_SECONDS = 3600
# Reservations past their expiry by this much are settled here too (Stripe's own expiry goes first).
EXPIRY_GRACE_SECONDS = 300
PAYPAL_PHASE = "paypal"
# Our own unsettled tickets: the first phase of a pass (once per pass, not once per run).
TICKETS_PHASE = "tickets"
# The PayPal phase's steps after its event listings (one per event type), in order.
PAYPAL_STEPS = ("orders", "pending captures", "captures", "reservations")
# Webhook outcomes that changed our records (anything else: a duplicate, ignored, nothing to do).
REPAIRING_OUTCOMES = frozenset({str(outcome) for outcome in Outcome if outcome.changed} | {"applied"})


class ProviderEvents(Protocol):
    """A provider's webhook as the reconciliation uses it: the event types it applies, and one
    event read from the provider's API applied through its handlers and ledger."""

    def event_types(self) -> list[str]: ...

    def apply_listed(self, event: dict[str, Any]) -> str: ...


@dataclass
class ReconciliationReport:
    checked: int = 0
    repaired: int = 0
    failed: int = 0
    # Objects that moved on between our read and our write: whoever moved them handles them.
    skipped: int = 0
    # Listed events not shaped as the handlers read them: logged and skipped (not ours to fix).
    malformed: int = 0
    complete: bool = True
    repairs: list[str] = field(default_factory=list)

    def repair(self, what: str, **details: Any) -> None:
        self.repaired += 1
        self.repairs.append(what)
        audit("reconcile.repair", repair=what, **details)


@dataclass
class _Pass:
    """One pass over the window, possibly spread over several runs cut short by their time limit."""

    start: int  # when the pass's first run started: the next pass's window begins there
    since: int  # events created from this time on
    phase: str
    after: str | None = None  # the last event handled in this phase: a resumed listing continues after it
    failed: bool = False

    def checkpoint(self, last_complete_start: int) -> dict[str, Any]:
        state: dict[str, Any] = {
            "last_complete_start": last_complete_start,
            "pass_start": self.start,
            "since": self.since,
            "phase": self.phase,
            "failed": self.failed,
        }
        if self.after is not None:
            state["after"] = self.after
        return state


class _OutOfTime(Exception):
    pass


def _listed_id(event: Any) -> str:
    """A listed event's id for the log, whatever the event holds (its shape is checked by apply_listed)."""
    found = event.get("id") if isinstance(event, dict) else None
    return found[:255] if isinstance(found, str) else "?"


class _Place:
    """Where a phase cut short continues within its steps: the pass's ``after`` holds
    "<step>/<object id>", the last object handled, and the steps are taken in the phase's order.
    Our own records are taken sorted by id and continue after that id (a record that left the
    listing meanwhile, settled, does not lose the place); a provider's listing (PayPal's events,
    newest first, in a fixed window) continues after the object with that id, or from its start
    again if that object is no longer listed (each event is applied once anyway)."""

    def __init__(self, current: _Pass, steps: list[str]) -> None:
        self._current = current
        self._steps = steps
        step, _, done = (current.after or "").partition("/")
        self._done_at = steps.index(step) if step in steps else -1
        self._done = done

    def resumed[T](self, step: str, listing: Callable[[], Iterable[T]], key: Callable[[T], str], *, ours: bool) -> Iterator[T]:
        """The step's objects not handled yet in this pass; each one's place is kept once the
        caller asks for the next (it is handled by then), so a cut names the last one handled."""
        at = self._steps.index(step)
        if at < self._done_at:
            return
        if ours:
            items: Iterator[T] = iter(sorted(listing(), key=key))
            if at == self._done_at:
                items = (item for item in items if key(item) > self._done)
        else:
            items = _after_seen(listing, key, self._done) if at == self._done_at else iter(listing())
        for item in items:
            yield item
            self._current.after = f"{step}/{key(item)}"


def _after_seen[T](listing: Callable[[], Iterable[T]], key: Callable[[T], str], done: str) -> Iterator[T]:
    items = iter(listing())
    for item in items:
        if key(item) == done:
            yield from items
            return
    yield from listing()


def _ticket_key(ticket: Any) -> str:
    return f"{int(ticket.ticket_id):012d}"  # zero-padded: sorted as strings, in id order


def _object_key(record: dict[str, Any]) -> str:
    return str(record["object_id"])


def _rfc3339(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reconciler:
    def __init__(
        self,
        tickets: TicketService,
        ticket_repository: UnsettledTickets,
        stripe_listing: Callable[[list[str], int, str | None], Iterator[dict[str, Any]]],
        stripe_events: Callable[[], ProviderEvents],
        paypal: Callable[[], PayPalGateway],
        # None where PayPal is not configured (no credentials): only our own PayPal records are read.
        paypal_listing: Callable[[str, str, str], Iterator[dict[str, Any]]] | None,
        paypal_events: Callable[[], ProviderEvents],
        paypal_objects: ProviderObjectStore,
        paypal_refunds: PayPalRefundService,
        checkpoints: CheckpointStore,
        clock: Callable[[], float] = system_time,
    ) -> None:
        self._tickets = tickets
        self._ticket_repository = ticket_repository
        self._stripe_listing = stripe_listing
        self._stripe_events = stripe_events
        self._paypal = paypal
        self._paypal_listing = paypal_listing
        self._paypal_events = paypal_events
        self._paypal_objects = paypal_objects
        self._paypal_refund_service = paypal_refunds
        self._checkpoints = checkpoints
        self._clock = clock

    def run(self, out_of_time: Callable[[], bool] = lambda: False) -> ReconciliationReport:
        """One run; ``out_of_time()`` is asked between objects (the Lambda's remaining time)."""
        started = int(self._clock())
        state = self._checkpoints.get(JOB)
        last_complete = int(state.get("last_complete_start", 0))
        oldest = started - EVENT_RETENTION_SECONDS
        phases = self._phases()
        if "pass_start" in state:
            # A pass cut short: this run continues it, its window, phase, place and failures kept (a
            # phase this version no longer has starts the listings over, in the same window).
            resumed = state.get("phase") in phases
            current = _Pass(
                int(state["pass_start"]),
                int(state["since"]),
                str(state["phase"]) if resumed else phases[0],
                state.get("after") if resumed else None,
                bool(state.get("failed")),
            )
        else:
            current = _Pass(started, max(last_complete - OVERLAP_SECONDS, oldest), phases[0])
        report = ReconciliationReport()

        def cut() -> None:
            current.failed = current.failed or report.failed > 0
            self._checkpoints.put(JOB, current.checkpoint(last_complete))
            raise _OutOfTime()

        try:
            for phase in phases[phases.index(current.phase) :]:
                if phase != current.phase:
                    current.phase, current.after = phase, None
                if phase == TICKETS_PHASE:
                    self._our_unsettled_tickets(current, report, out_of_time, cut)
                elif phase == PAYPAL_PHASE:
                    self._paypal_side(current, started, report, out_of_time, cut)
                else:
                    self._stripe_side(current, report, out_of_time, cut)
        except _OutOfTime:
            report.complete = False
            return report
        if current.failed or report.failed:
            # Something in this pass was not handled: the next pass looks at the same window again.
            self._checkpoints.put(JOB, {"last_complete_start": last_complete})
        else:
            self._checkpoints.put(JOB, {"last_complete_start": current.start})
        return report

    def _phases(self) -> list[str]:
        """Our unsettled tickets, then one listing per group of event types Stripe takes at once,
        then PayPal: each phase keeps its place when a run is cut, so no phase eats every run."""
        types = sorted(self._stripe_events().event_types())
        groups = -(-len(types) // TYPES_PER_LISTING)
        return [TICKETS_PHASE] + [f"stripe.events.{group}" for group in range(groups)] + [PAYPAL_PHASE]

    def _event_types(self, phase: str) -> list[str]:
        group = int(phase.rsplit(".", 1)[1])
        types = sorted(self._stripe_events().event_types())
        return types[group * TYPES_PER_LISTING : (group + 1) * TYPES_PER_LISTING]

    # our side --------------------------------------------------------------------------------
    def _our_unsettled_tickets(
        self, current: _Pass, report: ReconciliationReport, out_of_time: Callable[[], bool], cut: Callable[[], None]
    ) -> None:
        now = int(self._clock())
        reserved_cutoff = now - EXPIRY_GRACE_SECONDS
        statuses = ((TicketStatus.RESERVED, reserved_cutoff), (TicketStatus.PROCESSING, None), (TicketStatus.REFUNDING, None))
        place = _Place(current, [str(status) for status, _ in statuses])
        for status, cutoff in statuses:
            listing = functools.partial(self._ticket_repository.unsettled, status, expired_before=cutoff, limit=1000)
            for ticket in place.resumed(str(status), listing, _ticket_key, ours=True):
                if out_of_time():
                    cut()
                report.checked += 1
                expiry = cutoff if status == TicketStatus.RESERVED else None
                settle = functools.partial(self._tickets.settle_open_ticket, ticket, expiry)
                outcome = self._guarded(report, "ticket", str(ticket.ticket_id), settle)
                if isinstance(outcome, Outcome) and outcome.changed:
                    report.repair(f"ticket {ticket.ticket_id} {outcome}", ticket_id=ticket.ticket_id)

    # Stripe's side ---------------------------------------------------------------------------
    def _stripe_side(self, current: _Pass, report: ReconciliationReport, out_of_time: Callable[[], bool], cut: Callable[[], None]) -> None:
        """Stripe's events of the phase's types created in the window, newest first, each applied as
        its webhook would be. The checkpoint names the last event handled, never one that was not."""
        events = self._stripe_events()
        try:
            for event in self._stripe_listing(self._event_types(current.phase), current.since, current.after):
                if out_of_time():
                    cut()
                report.checked += 1
                step = functools.partial(events.apply_listed, event)
                outcome = self._guarded(report, str(event.get("type", "event")), _listed_id(event), step)
                if outcome == MALFORMED:
                    report.malformed += 1
                if outcome in REPAIRING_OUTCOMES:
                    report.repair(f"{event['type']} {event['id']} {outcome}", event_id=event["id"], event_type=event["type"])
                if isinstance(event.get("id"), str):  # a malformed event has none to continue after
                    current.after = event["id"]
        except ApiError:
            # Stripe could not list: this pass has a gap, so the next pass lists the same window again.
            report.failed += 1
            current.failed = True
            logger.exception("Reconciliation could not list Stripe events", extra={"phase": current.phase})

    # PayPal ----------------------------------------------------------------------------------
    def _paypal_side(
        self, current: _Pass, started: int, report: ReconciliationReport, out_of_time: Callable[[], bool], cut: Callable[[], None]
    ) -> None:
        """PayPal's events of the pass's window first (a reversal, a capture completed, its webhook
        lost), applied as their webhooks would be; then our own unsettled records, over PayPal's
        whole webhook retry period every pass, not the checkpoint's window: a refund made in PayPal's
        dashboard on an older capture, its webhook lost, is still found. A run cut short resumes
        at the step and object it stopped after (``_Place``)."""
        place = _Place(current, [f"events:{event_type}" for event_type in self._paypal_events().event_types()] + list(PAYPAL_STEPS))
        self._paypal_events_since(current, place, started, report, out_of_time, cut)
        since = started - PAYPAL_LOOKBACK_SECONDS
        self._paypal_orders(place, since, report, out_of_time, cut)
        self._paypal_captures(place, since, report, out_of_time, cut)
        refunds = self._paypal_refund_service

        def unanswered() -> list[Any]:
            return self._guarded(report, "paypal refund reservations", "*", refunds.unanswered) or []

        for reservation in place.resumed("reservations", unanswered, lambda reservation: str(reservation.reservation_id), ours=True):
            if out_of_time():
                cut()
            report.checked += 1
            step = functools.partial(refunds.settle_unanswered, reservation)
            for repair in self._guarded(report, "paypal refund reservation", reservation.reservation_id, step) or []:
                report.repair(repair, capture_id=reservation.capture_id)

    def _paypal_events_since(
        self,
        current: _Pass,
        place: _Place,
        started: int,
        report: ReconciliationReport,
        out_of_time: Callable[[], bool],
        cut: Callable[[], None],
    ) -> None:
        """One listing per type (PayPal filters by one); a run cut short resumes after the last
        event it handled (listing that type again and skipping to it; each event is applied once,
        by the ledger). A listing PayPal could not answer is a failure of the pass, which then
        keeps its window."""
        listing = self._paypal_listing
        if listing is None:
            return
        events = self._paypal_events()
        start_time, end_time = _rfc3339(current.since), _rfc3339(started)
        for event_type in events.event_types():
            try:
                listed = functools.partial(listing, event_type, start_time, end_time)
                for event in place.resumed(f"events:{event_type}", listed, lambda event: str(event.get("id")), ours=False):
                    if out_of_time():
                        cut()
                    report.checked += 1
                    outcome = self._guarded(report, event_type, _listed_id(event), functools.partial(events.apply_listed, event))
                    if outcome == MALFORMED:
                        report.malformed += 1
                    if outcome in REPAIRING_OUTCOMES:
                        report.repair(f"{event_type} {event['id']} {outcome}", event_id=event["id"], event_type=event_type)
            except ApiError:
                report.failed += 1
                current.failed = True
                logger.exception("Reconciliation could not list PayPal events", extra={"event_type": event_type})

    def _paypal_orders(
        self, place: _Place, since: int, report: ReconciliationReport, out_of_time: Callable[[], bool], cut: Callable[[], None]
    ) -> None:
        now = int(self._clock())
        orders = functools.partial(self._paypal_objects.unsettled, ORDER, ORDER_FINAL, since)
        for record in place.resumed("orders", orders, _object_key, ours=True):
            if out_of_time():
                cut()
            report.checked += 1
            order_id = str(record["object_id"])
            order = self._guarded(report, "paypal order", order_id, functools.partial(self._paypal().get_order, order_id))
            if not isinstance(order, dict):
                continue
            if order.get("status") != record.get("status") and self._paypal_objects.apply_state(
                ORDER, order_id, {"status": order["status"]}, as_of=now, rank=4
            ):
                report.repair(f"order {order_id} {record.get('status')} -> {order['status']}", order_id=order_id)
            capture = first_capture(order)
            if capture and self._paypal_objects.record(CAPTURE, capture["id"], str(record["owner"]), capture_state(capture, order_id), now):
                report.repair(f"capture {capture['id']} recorded", order_id=order_id, capture_id=capture["id"])

    def _paypal_captures(
        self, place: _Place, since: int, report: ReconciliationReport, out_of_time: Callable[[], bool], cut: Callable[[], None]
    ) -> None:
        """Captures still pending, whatever their age, looked up for the status PayPal gave them since;
        and the refunds whose webhook or answer was lost, of captures not yet fully refunded."""
        pending = functools.partial(self._paypal_objects.unsettled, CAPTURE, NOT_PENDING, 0)
        for capture in place.resumed("pending captures", pending, _object_key, ours=True):
            if out_of_time():
                cut()
            report.checked += 1
            step = functools.partial(self._paypal_refund_service.refresh_capture, capture)
            for repair in self._guarded(report, "paypal capture", str(capture["object_id"]), step) or []:
                report.repair(repair, capture_id=capture["object_id"])
        captures = functools.partial(self._paypal_objects.unsettled, CAPTURE, CAPTURE_FINAL, since)
        for capture in place.resumed("captures", captures, _object_key, ours=True):
            if out_of_time():
                cut()
            report.checked += 1
            step = functools.partial(self._paypal_refund_service.catch_up, capture)
            for repair in self._guarded(report, "paypal capture", str(capture["object_id"]), step) or []:
                report.repair(repair, capture_id=capture["object_id"])

    @staticmethod
    def _guarded(report: ReconciliationReport, kind: str, object_id: str, step: Callable[[], Any]) -> Any:
        """One object's repair; a failure is counted and logged, and the run goes on with the next.
        An object that moved on between our read and our write is skipped: whoever moved it handles it."""
        try:
            return step()
        except StateChanged:
            report.skipped += 1
            logger.info("Reconciliation skipped an object that changed meanwhile", extra={"kind": kind, "object_id": object_id})
            return None
        except ApiError:
            report.failed += 1
            logger.exception("Reconciliation could not settle an object", extra={"kind": kind, "object_id": object_id})
            return None
