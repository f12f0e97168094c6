"""Generated customer histories: what Stripe would send, in order, for a sequence of steps.

Objects are built from the fixtures in tests/fixtures/stripe/ (so they keep Stripe's shape),
with the fields that matter set by a small simulation of one subscription's life; a member
may hold several subscriptions at once (a double Checkout, an upgrade bought as a new one),
each simulated on its own and their streams merged by time.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.stripe_events import load_event

DAY = 86_400
MONTH = 30 * DAY
START = 1_793_491_200  # 2026-11-01
# One price per plan, as a real catalogue has: a plan change moves to the other price.
PRICES = {"monthly": "price_1TxHistMonthly001", "yearly": "price_1TxHistYearly0001"}


@dataclass
class Invoice:
    id: str
    start: int
    end: int
    paid: bool = False
    refunded: int = 0
    disputed: bool = False

    @property
    def intent(self) -> str:
        return self.id.replace("in_", "pi_")

    @property
    def charge(self) -> str:
        return self.id.replace("in_", "ch_")


@dataclass
class History:
    """Builds the event stream as the steps happen; `events` is Stripe's in-order stream."""

    legacy: bool
    user_pk: int
    gaps: list[int]
    key: str = "A"  # tells this subscription's ids from the member's other ones
    start: int = START
    events: list[dict[str, Any]] = field(default_factory=list)
    t: int = START
    status: str = "active"
    lookup_key: str = "monthly"
    cancel_at_period_end: bool = False
    ended_at: int | None = None
    invoices: list[Invoice] = field(default_factory=list)

    @property
    def version(self) -> str:
        return "2024-06-20" if self.legacy else "2026-10-28.endive"

    @property
    def current(self) -> Invoice:
        return self.invoices[-1]

    def __post_init__(self) -> None:
        self.t = self.start

    @property
    def subscription_id(self) -> str:
        return f"sub_1TxHistory{self.key}00001"

    def tick(self) -> None:
        # Some steps share a second with the one before: ties on `created` are common.
        self.t += self.gaps[len(self.events) % len(self.gaps)]

    def emit(self, fixture: str, obj: dict[str, Any]) -> None:
        self.tick()
        event = load_event(fixture)
        event.update(
            id=f"evt_1TxHistory{self.key}{len(self.events):06d}",
            created=self.t,
            api_version=self.version,
        )
        event["data"] = {"object": obj}
        self.events.append(event)

    # --- steps ---------------------------------------------------------------------------
    def signup(self) -> None:
        session = load_event("checkout_session_completed")["data"]["object"]
        session["client_reference_id"] = str(self.user_pk)
        session["subscription"] = self.subscription_id
        self.emit("checkout_session_completed", session)
        self.invoices.append(Invoice(self._invoice_id(), self.start, self.start + MONTH))
        self.emit("customer_subscription_created", self.subscription())
        self.pay(self.current)

    def renew(self) -> None:
        if self.ended_at or self.status != "active" or self.cancel_at_period_end:
            return
        self.next_period()
        self.emit("customer_subscription_updated", self.subscription())
        self.pay(self.current)

    def fail(self) -> None:
        if self.ended_at or self.status != "active" or self.cancel_at_period_end:
            return
        self.next_period()
        self.emit("customer_subscription_updated", self.subscription())
        self.emit("invoice_payment_failed", self.invoice(self.current))
        self.status = "past_due"
        self.emit("customer_subscription_updated__past_due", self.subscription())

    def recover(self) -> None:
        if self.ended_at or self.status != "past_due":
            return
        self.pay(self.current)
        self.status = "active"
        self.emit("customer_subscription_updated", self.subscription())

    def fail_and_recover(self) -> None:
        self.fail()
        self.recover()

    def plan_change(self) -> None:
        if self.ended_at or self.status != "active":
            return
        self.lookup_key = "yearly" if self.lookup_key == "monthly" else "monthly"
        self.emit("customer_subscription_updated__yearly", self.subscription())

    def cancel_at_period_end_(self) -> None:
        if self.ended_at or self.status != "active" or self.cancel_at_period_end:
            return
        self.cancel_at_period_end = True
        self.emit("customer_subscription_updated__cancel_at_period_end", self.subscription())

    def refund(self, full: bool) -> None:
        paid = [i for i in self.invoices if i.paid and not i.disputed and i.refunded < 1500]
        if not paid:
            return
        invoice = paid[-1]
        invoice.refunded = 1500 if full else min(1500, invoice.refunded + 500)
        self.emit("charge_refunded", self.charge(invoice))

    def dispute(self, outcome: str | None) -> None:
        paid = [i for i in self.invoices if i.paid and not i.disputed and not i.refunded]
        if not paid:
            return
        invoice = paid[-1]
        invoice.disputed = True
        self.emit("charge_dispute_created", self.dispute_object(invoice, "needs_response"))
        if outcome:
            self.emit("charge_dispute_closed", self.dispute_object(invoice, outcome))

    def delete(self, at_period_end: bool) -> None:
        if self.ended_at:
            return
        self.status = "canceled"
        self.ended_at = self.current.end if at_period_end else self.t + 1
        self.t = max(self.t, self.ended_at - 1)
        self.emit("customer_subscription_deleted", self.subscription())

    def delete_customer(self) -> None:
        customer = load_event("customer_deleted")["data"]["object"]
        self.emit("customer_deleted", customer)

    # --- objects -------------------------------------------------------------------------
    def pay(self, invoice: Invoice) -> None:
        invoice.paid = True
        self.emit("invoice_paid", self.invoice(invoice))
        if not self.legacy:
            payment = load_event("invoice_payment_paid")["data"]["object"]
            payment.update(invoice=invoice.id, payment={"type": "payment_intent"})
            payment["payment"]["payment_intent"] = invoice.intent
            self.emit("invoice_payment_paid", payment)

    def subscription(self) -> dict[str, Any]:
        fixture = "customer_subscription_created" + ("__legacy" if self.legacy else "")
        sub = load_event(fixture)["data"]["object"]
        sub.update(
            id=self.subscription_id,
            created=self.start,
            status=self.status,
            cancel_at_period_end=self.cancel_at_period_end,
            cancel_at=self.current.end if self.cancel_at_period_end else None,
            ended_at=self.ended_at,
            canceled_at=self.ended_at,
        )
        period = {
            "current_period_start": self.current.start,
            "current_period_end": self.current.end,
        }
        item = sub["items"]["data"][0]
        item["subscription"] = self.subscription_id
        (sub if self.legacy else item).update(period)
        item["price"] = copy.deepcopy(item["price"]) | self.price()
        return sub

    def price(self) -> dict[str, Any]:
        return {"id": PRICES[self.lookup_key], "lookup_key": self.lookup_key}

    def invoice(self, invoice: Invoice) -> dict[str, Any]:
        fixture = "invoice_paid" + ("__legacy" if self.legacy else "")
        obj = load_event(fixture)["data"]["object"]
        obj.update(id=invoice.id, status="paid" if invoice.paid else "open")
        line = obj["lines"]["data"][0]
        line["period"] = {"start": invoice.start, "end": invoice.end}
        if self.legacy:
            obj.update(paid=invoice.paid, payment_intent=invoice.intent)
            obj.update(
                subscription=self.subscription_id, charge=invoice.charge if invoice.paid else None
            )
            line.update(subscription=self.subscription_id)
            line["price"] |= self.price()
        else:
            obj["parent"]["subscription_details"]["subscription"] = self.subscription_id
            line["parent"]["subscription_item_details"]["subscription"] = self.subscription_id
            line["pricing"]["price_details"]["price"] = PRICES[self.lookup_key]
        return obj

    def charge(self, invoice: Invoice) -> dict[str, Any]:
        fixture = "charge_refunded" + ("__legacy" if self.legacy else "")
        obj = load_event(fixture)["data"]["object"]
        obj.update(
            id=invoice.charge,
            payment_intent=invoice.intent,
            amount_refunded=invoice.refunded,
            refunded=invoice.refunded >= 1500,
        )
        if self.legacy:
            obj["invoice"] = invoice.id
        return obj

    def dispute_object(self, invoice: Invoice, status: str) -> dict[str, Any]:
        obj = load_event("charge_dispute_created")["data"]["object"]
        obj.update(
            id=invoice.id.replace("in_", "dp_"),
            charge=invoice.charge,
            payment_intent=invoice.intent,
            status=status,
        )
        return obj

    def next_period(self) -> None:
        self.invoices.append(
            Invoice(self._invoice_id(), self.current.end, self.current.end + MONTH)
        )
        self.t = max(self.t, self.current.start)

    def _invoice_id(self) -> str:
        return f"in_1TxHistory{self.key}{len(self.invoices):05d}"


steps = st.one_of(
    st.sampled_from(
        ["renew", "fail", "fail_and_recover", "recover", "plan_change", "cancel_at_period_end_"]
    ).map(lambda name: (name, ())),
    st.tuples(st.just("refund"), st.tuples(st.booleans())),
    st.tuples(st.just("dispute"), st.tuples(st.sampled_from([None, "won", "lost"]))),
)


@st.composite
def histories(draw: st.DrawFn, user_pk: int, key: str = "A", **shared: Any) -> History:
    """Signup, then up to six of: renewal, failed payment (and recovery), plan change, cancel at
    period end, full or partial refund, dispute (open, won or lost); then maybe deletion of
    the subscription (now or at the period end) and of the customer."""
    history = History(
        legacy=shared.get("legacy", draw(st.booleans())),
        user_pk=user_pk,
        gaps=draw(st.lists(st.sampled_from([0, 1, 60, DAY]), min_size=1, max_size=5)),
        key=key,
        start=shared.get("start", START),
    )
    history.signup()
    for name, args in draw(st.lists(steps, max_size=6)):
        getattr(history, name)(*args)
    ending = draw(st.sampled_from([None, "at_period_end", "now"]))
    if ending:
        history.delete(at_period_end=ending == "at_period_end")
        if draw(st.booleans()):
            history.delete_customer()
    return history


@dataclass
class Member:
    """One member's subscriptions, each with its own history, and Stripe's in-order stream."""

    subscriptions: list[History]

    @property
    def events(self) -> list[dict[str, Any]]:
        # By time; a same-second tie keeps each subscription's own order (its event ids sort
        # in order, and ids are the tie-break: docs/RULES.md on ties).
        merged = [e for history in self.subscriptions for e in history.events]
        return sorted(merged, key=lambda e: (e["created"], e["id"]))


@st.composite
def members(draw: st.DrawFn, user_pk: int) -> Member:
    """One to three subscriptions of one customer (one endpoint, so one API version), the
    later ones started up to two months after the first."""
    legacy = draw(st.booleans())
    count = draw(st.integers(1, 3))
    starts = [START] + [
        START + draw(st.sampled_from([0, DAY, 20 * DAY, 2 * MONTH])) for _ in range(count - 1)
    ]
    return Member(
        [
            draw(histories(user_pk, key="ABC"[n], legacy=legacy, start=start))
            for n, start in enumerate(starts)
        ]
    )
