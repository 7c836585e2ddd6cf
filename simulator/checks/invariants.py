"""The invariants: properties that must hold over a whole run (README, "What it checks").

Each check reads only :class:`~simulator.checks.facts.Facts` and returns violations
that carry their evidence: the borrower (masked), the installment, the instants, and
the journal entries that prove it, so a failing run explains itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from itertools import groupby

from simulator.checks.facts import Facts, Violation, paid_instants, truth_of
from simulator.checks.oracle import Payment, TrueInstallment
from simulator.engine.journal import Entry
from simulator.scenarios.model import INVARIANTS

__all__ = [
    "CHECKS",
    "bureau_matches_truth",
    "check_all",
    "exactly_once_posting",
    "false_reports_corrected",
    "money_conserved",
    "no_false_overdue",
    "no_false_overdue_sms",
    "true_overdue_reported",
]


def _false_alarms(facts: Facts, invariant: str, sightings: Iterable[tuple[Entry, str, int]],
                  what: Callable[[Entry, TrueInstallment], str], instant: str) -> list[Violation]:
    """One violation per installment truly paid on time that some entry called overdue.

    ``sightings`` are (entry, account, installment) of the alarms; ``what`` words
    the alarm, ``instant`` names its moment in the evidence.
    """
    found: dict[tuple[str, int], Violation] = {}
    for entry, account, number in sightings:
        inst = truth_of(facts, account, number)
        if inst is None or not inst.paid_on_time or (account, number) in found:
            continue
        cause, behind = facts.why_unpaid(inst, entry.at)
        found[(account, number)] = Violation(
            invariant,
            f"{what(entry, inst)}, but it was paid at {facts.iso(inst.settled_at)}, before its "
            f"due end {facts.iso(inst.due_end)}",
            borrower=inst.borrower, subject=facts.subject(inst.borrower),
            installment=inst.number,
            instants={**paid_instants(facts, inst), instant: facts.iso(entry.at)},
            evidence=tuple([entry.seq, *facts.payment_seqs([*inst.settled_by, *behind])]),
            cause=cause,
        )
    return list(found.values())


def no_false_overdue(facts: Facts) -> list[Violation]:
    """No bureau record ever showed a delinquency for an installment truly paid on time."""
    return _false_alarms(
        facts, "no_false_overdue",
        ((e, e.data["account"], e.data["installment"]) for e in facts.entries("bureau.record")
         if e.data["status"] == "overdue"),
        lambda e, inst: f"the bureau recorded installment {inst.number} as "
                        f"{e.data['days_past_due']} day(s) past due",
        "reported_at")


def no_false_overdue_sms(facts: Facts) -> list[Violation]:
    """No overdue warning was sent for an installment truly paid on time."""
    return _false_alarms(
        facts, "no_false_overdue_sms",
        ((e, e.data["loan_id"], e.data["installment"]) for e in facts.entries("sms.sent")
         if e.data["reason"] == "overdue_warning" and e.data.get("loan_id") is not None),
        lambda e, inst: f"an overdue warning for installment {inst.number} was texted at "
                        f"{facts.iso(e.at)}",
        "texted_at")


def exactly_once_posting(facts: Facts) -> list[Violation]:
    """Every accepted repayment is posted at the bank exactly once, with its amount."""
    violations = []
    for payment_id, payment, postings in facts.per_payment():
        if payment is None:
            violations.append(Violation(
                "exactly_once_posting",
                f"the bank posted {payment_id}, which no borrower paid",
                evidence=tuple(facts.payment_seqs([payment_id])), cause="phantom posting"))
            continue
        refunded = payment_id in facts.oracle.refunds
        pending = payment_id in facts.platform_pending
        allowed = {0} if refunded else ({0, 1} if pending else {1})
        amounts_ok = all(p.amount == payment.amount for p in postings)
        if len(postings) in allowed and amounts_ok:
            continue
        if not postings:
            what = "was never posted and is no longer pending anywhere: it was lost"
            cause = "lost repayment"
        elif len(postings) > 1:
            what = f"was posted {len(postings)} times ({', '.join(p.posting_id for p in postings)})"
            cause = "repeated posting"
        elif refunded:
            what = "was posted although the platform refunded it"
            cause = "posted and refunded"
        else:
            what = f"was posted with amount {postings[0].amount} instead of {payment.amount}"
            cause = "wrong amount"
        violations.append(Violation(
            "exactly_once_posting",
            f"repayment {payment_id} of {payment.amount} captured at "
            f"{facts.iso(payment.value_time)} {what}",
            borrower=payment.borrower, subject=facts.subject(payment.borrower),
            instants={"value_time": facts.iso(payment.value_time)},
            evidence=tuple(facts.payment_seqs([payment_id])), cause=cause,
        ))
    return violations


def money_conserved(facts: Facts) -> list[Violation]:
    """Borrowers' payments = bank postings + money in transit + refunds, to the minor unit."""
    accepted = posted = in_transit = 0
    refunds = sum(facts.oracle.refunds.values())
    off: list[tuple[Payment, int]] = []  # payments not accounted for exactly
    for payment_id, payment, postings in facts.per_payment():
        amount_posted = sum(p.amount for p in postings)
        posted += amount_posted
        if payment is None:
            continue
        accepted += payment.amount
        accounted = amount_posted + facts.oracle.refunds.get(payment_id, 0)
        if not postings and payment_id in facts.platform_pending:
            in_transit += payment.amount
            accounted += payment.amount
        if accounted != payment.amount:
            off.append((payment, accounted))
    if accepted == posted + in_transit + refunds and not off:
        return []
    gap = accepted - (posted + in_transit + refunds)
    header = (f"borrowers paid {accepted}; the bank posted {posted}, {in_transit} is in "
              f"transit and {refunds} was refunded: {abs(gap)} "
              f"{'missing' if gap > 0 else 'too much'}")
    violations = [
        Violation(
            "money_conserved",
            f"{header}; repayment {payment.payment_id} of {payment.amount} is accounted "
            f"for as {accounted}",
            borrower=payment.borrower, subject=facts.subject(payment.borrower),
            instants={"value_time": facts.iso(payment.value_time)},
            evidence=tuple(facts.payment_seqs([payment.payment_id])),
            cause="repeated posting" if accounted > payment.amount else "lost repayment")
        for payment, accounted in off
    ]
    return violations or [Violation("money_conserved", header)]


def _reporting_deadline(facts: Facts, inst: TrueInstallment) -> datetime:
    jurisdiction = facts.oracle.jurisdiction
    return (facts.oracle.threshold_instant(inst) + jurisdiction.reporting_cycle
            + facts.recon_max_wait + timedelta(days=1))


def _first_overdue_record(facts: Facts) -> dict[tuple[str, int], Entry]:
    first: dict[tuple[str, int], Entry] = {}
    for entry in facts.entries("bureau.record"):
        if entry.data["status"] == "overdue":
            first.setdefault((entry.data["account"], entry.data["installment"]), entry)
    return first


def true_overdue_reported(facts: Facts) -> list[Violation]:
    """Every truly delinquent installment reaches the bureau within one reporting cycle."""
    first = _first_overdue_record(facts)
    violations = []
    for borrower in facts.oracle.borrowers:
        for inst in facts.oracle.installments(borrower):
            if not facts.oracle.truly_delinquent(inst, facts.end):
                continue
            deadline = _reporting_deadline(facts, inst)
            if deadline > facts.end:
                continue
            record = first.get((facts.oracle.loan_of(borrower), inst.number))
            if record is not None and record.at <= deadline:
                continue
            late = f"only at {facts.iso(record.at)}" if record is not None else "never"
            threshold = facts.oracle.threshold_instant(inst)
            evidence = [record.seq] if record is not None else \
                facts.batches_between(threshold, deadline)
            evidence += facts.payment_seqs(inst.settled_by)
            violations.append(Violation(
                "true_overdue_reported",
                f"installment {inst.number} was truly delinquent from "
                f"{facts.iso(facts.oracle.threshold_instant(inst))} "
                f"(paid: {facts.iso(inst.settled_at) or 'never'}) but was {late} reported to the "
                f"bureau; deadline {facts.iso(deadline)}",
                borrower=borrower, subject=facts.subject(borrower), installment=inst.number,
                instants={"due_end": facts.iso(inst.due_end), "deadline": facts.iso(deadline),
                          "paid_at": facts.iso(inst.settled_at)},
                evidence=tuple(sorted(evidence)),
            ))
    return violations


def _false_episodes(history: list[Entry]) -> list[tuple[Entry, Entry | None]]:
    """Spans from an overdue record to the correction that cleared it (None: never)."""
    episodes: list[tuple[Entry, Entry | None]] = []
    appeared: Entry | None = None
    for entry in history:
        status = entry.data["status"]
        if entry.kind == "bureau.record" and status == "overdue":
            appeared = appeared or entry
        elif entry.kind == "bureau.correction" and status in ("current", "deleted") \
                and appeared is not None:
            episodes.append((appeared, entry))
            appeared = None
    if appeared is not None:
        episodes.append((appeared, None))
    return episodes


def false_reports_corrected(facts: Facts) -> list[Violation]:
    """A false delinquency is gone within the jurisdiction's limit.

    The clock starts at the later of the record's appearance and the repayment
    reaching the bank, or at a dispute about it if that is earlier; with
    neither, the bank never had a way to know, and only
    ``bureau_matches_truth`` judges the record.
    """
    limit = facts.oracle.jurisdiction.correction_limit
    events: dict[tuple[str, int], list[Entry]] = defaultdict(list)
    for entry in facts.journal.entries(["bureau.record", "bureau.correction"]):
        events[(entry.data["account"], entry.data["installment"])].append(entry)
    disputes: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for entry in facts.entries("bureau.dispute_opened"):
        disputes[(entry.data["account"], entry.data["period"])].append(entry.at)
    violations = []
    for key, history in sorted(events.items()):
        inst = truth_of(facts, *key)
        if inst is None or not inst.paid_on_time:
            continue
        learned = [facts.first_posted[p] for p in inst.settled_by if p in facts.first_posted]
        for appeared, cleared in _false_episodes(history):
            starts = [max(appeared.at, min(learned))] if learned else []
            starts += [at for at in disputes.get((key[0], inst.period), []) if at >= appeared.at]
            if not starts:
                continue
            deadline = min(starts) + limit
            gone_at = cleared.at if cleared is not None else None
            if gone_at is None and deadline > facts.end:
                continue  # still within the limit when the run ended
            if gone_at is not None and gone_at <= deadline:
                continue
            evidence = [appeared.seq, *facts.payment_seqs(inst.settled_by)]
            if cleared is not None:
                evidence.append(cleared.seq)
            what = f"corrected only at {facts.iso(gone_at)}" if gone_at else "never corrected"
            violations.append(Violation(
                "false_reports_corrected",
                f"the false delinquency of installment {inst.number} recorded at "
                f"{facts.iso(appeared.at)} was {what}; it had to be gone by "
                f"{facts.iso(deadline)}",
                borrower=inst.borrower, subject=facts.subject(inst.borrower),
                installment=inst.number,
                instants={"reported_at": facts.iso(appeared.at), "deadline": facts.iso(deadline),
                          "corrected_at": facts.iso(gone_at)},
                evidence=tuple(evidence),
            ))
    return violations


def bureau_matches_truth(facts: Facts) -> list[Violation]:
    """At the end of the run every settled period the bureau holds matches the oracle."""
    oracle = facts.oracle
    statuses = (
        (key, "overdue" if any(r.status == "overdue" for r in rows) else "current")
        for key, rows in groupby(facts.bureau_records, key=lambda r: (r.account, r.period))
    )
    violations = []
    for (account, period), status in statuses:
        borrower = facts.borrower_of(account)
        if borrower is None:
            continue
        members = [i for i in oracle.installments(borrower) if i.period == period]
        truth = "current"
        settled = True
        for inst in members:
            delinquent = oracle.truly_delinquent(inst, facts.end)
            if delinquent:
                truth = "overdue"
                settled = settled and _reporting_deadline(facts, inst) <= facts.end
            elif inst.settled_at is None:
                settled = False
        if not settled or truth == status:
            continue
        late = [i for i in members if oracle.truly_delinquent(i, facts.end)]
        worst = late[0] if late else members[0] if members else None
        evidence = [seq for seq in facts.journal.about(
            [account], ("bureau.record", "bureau.correction"))
            if facts.journal.get(seq).data["period"] == period]
        for inst in members:
            evidence += facts.payment_seqs(inst.settled_by)
        if late and status == "current":
            threshold = oracle.threshold_instant(late[0])
            evidence += facts.batches_between(threshold,
                                              _reporting_deadline(facts, late[0]))
        violations.append(Violation(
            "bureau_matches_truth",
            f"at the end of the run the bureau holds {period} as {status}, but the truth is "
            f"{truth}",
            borrower=borrower, subject=facts.subject(borrower),
            installment=worst.number if worst else None,
            instants=paid_instants(facts, worst) if worst else {},
            evidence=tuple(sorted(set(evidence))),
        ))
    return violations


CHECKS: dict[str, Callable[[Facts], list[Violation]]] = {
    "no_false_overdue": no_false_overdue,
    "no_false_overdue_sms": no_false_overdue_sms,
    "exactly_once_posting": exactly_once_posting,
    "money_conserved": money_conserved,
    "true_overdue_reported": true_overdue_reported,
    "false_reports_corrected": false_reports_corrected,
    "bureau_matches_truth": bureau_matches_truth,
}


if tuple(CHECKS) != INVARIANTS:  # a check per invariant name, in the same order
    raise ImportError(f"the invariant registry {tuple(CHECKS)} does not match {INVARIANTS}")


def check_all(facts: Facts, names: tuple[str, ...] = INVARIANTS) -> dict[str, list[Violation]]:
    """Run the named checks; every name maps to its violations (empty when it holds)."""
    return {name: CHECKS[name](facts) for name in names}
