"""Money: every repayment reaches the bank once, in time, whole, and nothing owed goes back.

The payments are the payment network's (what truly left each borrower), the
postings the bank's database (every posting that ever appeared, and what it
holds at the end), the returns the network's (what truly came back). No check
takes a party's word for any of them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from simulator.checks.facts import Facts, PostingSeen, Violation, Window, payments_by_loan
from simulator.checks.oracle import Payment

__all__ = ["exactly_once_posting", "in_transit_bounded", "money_conserved",
           "no_wrongful_refund"]


def _about(facts: Facts, invariant: str, payment: Payment, message: str, *,
           cause: str | None = None, extra: tuple[int, ...] = (),
           **instants: datetime | None) -> Violation:
    return Violation(
        invariant, message, borrower=payment.borrower, subject=facts.subject(payment.borrower),
        instants={"value_time": facts.iso(payment.value_time),
                  **{name: facts.iso(at) for name, at in instants.items()}},
        evidence=tuple(dict.fromkeys([*facts.payment_seqs([payment.payment_id]), *extra])),
        cause=cause)


def exactly_once_posting(facts: Facts) -> list[Violation]:
    """Every repayment a party accepted is posted at the bank exactly once, with its amount,
    over the whole run: a second posting later reversed still counts."""
    seen: dict[str, list[PostingSeen]] = defaultdict(list)
    for posting in facts.postings_seen:
        seen[posting.payment_id].append(posting)
    payments = facts.oracle.payments
    violations = []
    for payment_id in sorted(payments):
        payment = payments[payment_id]
        postings = seen.pop(payment_id, [])
        distinct = list(dict.fromkeys(p.posting_id for p in postings))
        if payment_id in facts.refunded_by_taker:
            allowed = {0}
        elif payment_id in facts.platform_pending:
            allowed = {0, 1}
        else:
            allowed = {1}
        wrong_amount = [p for p in postings if p.amount != payment.amount]
        if len(distinct) in allowed and not wrong_amount:
            continue
        if not distinct:
            what, cause = "was never posted and is no longer pending anywhere: it was lost", \
                "lost repayment"
        elif len(distinct) > 1:
            what, cause = f"was posted {len(distinct)} times ({', '.join(distinct)})", \
                "repeated posting"
        elif payment_id in facts.refunded_by_taker:
            what, cause = "was posted although it was given back to the borrower", \
                "posted and refunded"
        else:
            what, cause = (f"was posted with amount {wrong_amount[0].amount} instead of "
                           f"{payment.amount}"), "wrong amount"
        violations.append(_about(
            facts, "exactly_once_posting",
            payment, f"repayment {payment_id} of {payment.amount} taken at "
            f"{facts.iso(payment.value_time)} {what}", cause=cause,
            extra=tuple(p.seq for p in postings if p.seq)))
    for payment_id, postings in sorted(seen.items()):
        violations.append(Violation(
            "exactly_once_posting",
            f"the bank posted {payment_id}, which no borrower paid "
            f"({len({p.posting_id for p in postings})} posting(s) of "
            f"{sum(p.amount for p in postings)})",
            evidence=tuple(dict.fromkeys(
                [*facts.payment_seqs([payment_id]), *(p.seq for p in postings if p.seq)])),
            cause="phantom posting"))
    for reused in facts.reused_payment_ids:
        payment = payments[reused]
        violations.append(_about(
            facts, "exactly_once_posting", payment,
            f"two repayments were acknowledged under one payment id {reused}: the bank can "
            "tell them apart only by luck", cause="payment id reused"))
    return violations


def money_conserved(facts: Facts) -> list[Violation]:
    """For every loan, what borrowers paid = what the bank applied + what truly went back to
    them + what is still in transit, to the minor unit."""
    applied: dict[str, int] = defaultdict(int)
    for posting in facts.postings:
        applied[posting.loan_id] += posting.applied
    by_loan = payments_by_loan(facts.oracle.payments.values())
    violations = []
    totals = [0, 0, 0, 0]  # paid, applied, returned, in transit
    for loan_id in sorted(set(by_loan) | set(applied)):
        payments = by_loan.get(loan_id, [])
        paid = sum(p.amount for p in payments)
        returned = sum(facts.returned.get(p.payment_id, 0) for p in payments)
        in_transit = sum(p.amount for p in payments if p.payment_id in facts.platform_pending)
        loan_applied = applied.get(loan_id, 0)
        for index, value in enumerate((paid, loan_applied, returned, in_transit)):
            totals[index] += value
        gap = paid - (loan_applied + returned + in_transit)
        if gap == 0:
            continue
        borrower = facts.borrower_of(loan_id)
        text = (f"loan {loan_id}: the borrower paid {paid}; the bank applied {loan_applied}, "
                f"{returned} went back and {in_transit} is in transit: {abs(gap)} "
                f"{'missing' if gap > 0 else 'too much'}")
        instants = {"first_paid": facts.iso(payments[0].value_time),
                    "last_paid": facts.iso(payments[-1].value_time)} if payments else {}
        violations.append(Violation(
            "money_conserved", text, borrower=borrower,
            subject=facts.subject(borrower) if borrower is not None else None,
            instants=instants,
            evidence=tuple(facts.payment_seqs(p.payment_id for p in payments)),
            cause="money missing" if gap > 0 else "money applied that nobody paid"))
    unknown = [back for back in facts.given_back if not back.known]
    for back in unknown:
        violations.append(Violation(
            "money_conserved",
            f"{back.by} gave back {back.amount} for {back.payment_id}, which no borrower paid",
            instants={"at": facts.iso(back.at)}, cause="money returned for no payment"))
    return violations


def no_wrongful_refund(facts: Facts) -> list[Violation]:
    """Money a borrower owed is never given back: only what a payment paid beyond everything
    its loan owed may return (a refund because a party refused a request, when something
    was due, leaves the borrower truly late)."""
    oracle = facts.oracle
    violations = []
    for payment_id, returned in sorted(facts.returned.items()):
        payment = oracle.payments.get(payment_id)
        if payment is None:
            continue  # money_conserved reports it
        surplus = oracle.surplus(payment_id)
        if returned <= surplus:
            continue
        refusal = _last_refusal(facts, payment_id)
        cause = (f"the bank answered {refusal[1]} to {refusal[2]} at {facts.iso(refusal[3])}"
                 if refusal is not None else "no refusal by the bank was seen")
        givers = sorted({b.by for b in facts.given_back if b.payment_id == payment_id})
        violations.append(_about(
            facts, "no_wrongful_refund", payment,
            f"{' and '.join(givers)} gave back {returned} of repayment {payment_id} "
            f"({payment.amount} taken at {facts.iso(payment.value_time)}), but only "
            f"{surplus} of it was more than the loan owed", cause=cause,
            extra=(refusal[0],) if refusal is not None else ()))
    return violations


def _last_refusal(facts: Facts, payment_id: str) -> tuple[int, int, str, datetime] | None:
    """The last call about the payment that the bank refused for good: seq, status, op, at."""
    found = None
    for seq in facts.journal.about([payment_id], ("link.call", "link.late")):
        entry = facts.journal.get(seq)
        status = entry.data.get("status")
        if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429):
            found = (seq, status, str(entry.data.get("op")), entry.at)
    return found


def in_transit_bounded(facts: Facts) -> list[Violation]:
    """A repayment the platform accepted reaches the bank within the stated bound once the
    path it needs (platform, link, bank) has been whole that long."""
    bound = facts.limits.in_transit
    broken = sorted(facts.path_broken)
    violations = []
    for payment in sorted(facts.oracle.payments.values(),
                          key=lambda p: (p.value_time, p.payment_id)):
        if payment.via != "platform" or payment.payment_id in facts.refunded_by_taker:
            continue
        due = _deadline(payment.value_time, bound, broken)
        if due > facts.end:
            continue
        arrived = facts.first_seen.get(payment.payment_id)
        if arrived is not None and arrived <= due:
            continue
        late = f"reached the bank only at {facts.iso(arrived)}" if arrived is not None else \
            "had not reached the bank at the end"
        violations.append(_about(
            facts, "in_transit_bounded", payment,
            f"repayment {payment.payment_id} taken at {facts.iso(payment.value_time)} {late}; "
            f"with the path to the bank whole it had to arrive within {bound} "
            f"(by {facts.iso(due)})", cause="stuck in transit", due=due, arrived=arrived))
    return violations


def _deadline(start: datetime, bound: timedelta, broken: list[Window]) -> datetime:
    """The first instant by which the path has been whole for ``bound`` since ``start``."""
    clear_from = start
    for window_start, window_end, _what in broken:
        if window_end <= clear_from:
            continue
        if window_start >= clear_from + bound:
            break
        clear_from = max(clear_from, window_end)
    return clear_from + bound
