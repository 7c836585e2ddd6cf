"""Credit reporting: true delinquencies reach the bureau, false ones go, files match the truth.

Every check here reads the credit files' history as the bureau's database took
it (:class:`~simulator.checks.facts.CreditWrite`): a correction counts when the
record changed, whatever anyone logged. Deadlines come from the jurisdiction
(its reporting cycle, its limit on waiting for reconciliation files, its
correction limit), never from a party's own settings.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import groupby

from simulator.checks.facts import CreditWrite, Facts, Violation
from simulator.checks.oracle import TrueInstallment

__all__ = ["bureau_matches_truth", "false_reports_corrected", "reporting_deadline",
           "true_overdue_reported"]


def reporting_deadline(facts: Facts, inst: TrueInstallment) -> datetime:
    """The latest a true delinquency may reach the bureau: its threshold, one reporting
    cycle, the longest wait for a reconciliation file, and a day for the batch."""
    cycle = facts.limits.reporting or facts.oracle.jurisdiction.reporting_cycle
    return (facts.oracle.threshold_instant(inst) + cycle + facts.limits.recon_wait
            + timedelta(days=1))


def _subject_matches(facts: Facts, write: CreditWrite, borrower: str) -> bool:
    return write.subject_id == facts.oracle.borrowers[borrower].id_number


def true_overdue_reported(facts: Facts) -> list[Violation]:
    """Every truly delinquent installment reaches the bureau, under its borrower's subject id,
    by its reporting deadline."""
    first: dict[tuple[str, int], CreditWrite] = {}
    for write in facts.credit_writes:
        if write.deleted or write.status != "overdue":
            continue
        borrower = facts.borrower_of(write.account)
        if borrower is not None and _subject_matches(facts, write, borrower):
            first.setdefault((write.account, write.installment), write)
    oracle = facts.oracle
    violations = []
    for borrower in oracle.borrowers:
        for inst in oracle.installments(borrower):
            if not oracle.truly_delinquent(inst, facts.end):
                continue
            deadline = reporting_deadline(facts, inst)
            if deadline > facts.end:
                continue
            record = first.get((oracle.loan_of(borrower), inst.number))
            if record is not None and record.at <= deadline:
                continue
            late = f"only at {facts.iso(record.at)}" if record is not None else "never"
            threshold = oracle.threshold_instant(inst)
            evidence = [record.seq] if record is not None and record.seq else \
                facts.batches_between(threshold, deadline)
            evidence += facts.payment_seqs(inst.settled_by)
            violations.append(Violation(
                "true_overdue_reported",
                f"installment {inst.number} was truly delinquent from {facts.iso(threshold)} "
                f"(paid: {facts.iso(inst.settled_at) or 'never'}) but was {late} reported to "
                f"the bureau; deadline {facts.iso(deadline)}",
                borrower=borrower, subject=facts.subject(borrower), installment=inst.number,
                instants=facts.instants(inst, deadline=deadline),
                evidence=tuple(sorted(set(evidence))),
            ))
    return violations


def _episodes(history: list[CreditWrite]) -> list[tuple[CreditWrite, CreditWrite | None]]:
    """Spans from a record turning overdue to the change that cleared it (None: never)."""
    episodes: list[tuple[CreditWrite, CreditWrite | None]] = []
    appeared: CreditWrite | None = None
    for write in history:
        overdue = write.status == "overdue" and not write.deleted
        if overdue and appeared is None:
            appeared = write
        elif not overdue and appeared is not None:
            episodes.append((appeared, write))
            appeared = None
    if appeared is not None:
        episodes.append((appeared, None))
    return episodes


def false_reports_corrected(facts: Facts) -> list[Violation]:
    """A false delinquency is gone within the jurisdiction's limit.

    The clock starts at the later of the record's appearance and the repayment
    reaching the bank — the last of them, when the installment was paid in parts:
    only then could the bank know it paid — or at a dispute about it if that is
    earlier; with neither, the bank never had a way to know, and only
    ``bureau_matches_truth`` judges the record.
    """
    limit = facts.limits.correction or facts.oracle.jurisdiction.correction_limit
    history: dict[tuple[str, int], list[CreditWrite]] = defaultdict(list)
    for write in facts.credit_writes:
        history[(write.account, write.installment)].append(write)
    disputes: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for at, account, period in facts.disputes:
        disputes[(account, period)].append(at)
    violations = []
    for key, writes in sorted(history.items()):
        inst = facts.truth_of(*key)
        if inst is None or not inst.paid_on_time:
            continue
        # the payments that made it paid (not those that only paid a residual after it)
        payments = facts.oracle.payments
        needed = [p for p in inst.settled_by if p in payments and inst.settled_at is not None
                  and payments[p].value_time <= inst.settled_at] or list(inst.settled_by)
        learned = [facts.first_seen[p] for p in needed if p in facts.first_seen]
        known = max(learned) if learned and len(learned) == len(needed) else None
        for appeared, cleared in _episodes(writes):
            starts = [max(appeared.at, known)] if known is not None else []
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
                instants={"reported_at": facts.iso(appeared.at),
                          "deadline": facts.iso(deadline), "corrected_at": facts.iso(gone_at)},
                evidence=tuple(seq for seq in dict.fromkeys(evidence) if seq),
            ))
    return violations


def _identity(facts: Facts, write: CreditWrite) -> str | None:
    """Why a credit-file write cannot be the record of a true installment (None: it is)."""
    borrower = facts.borrower_of(write.account)
    if borrower is None:
        return f"account {write.account} is no loan the bank booked for a borrower"
    installments = facts.oracle.installments(borrower)
    if not 1 <= write.installment <= len(installments):
        return (f"loan {write.account} has no installment {write.installment} (it has "
                f"{len(installments)})")
    inst = installments[write.installment - 1]
    if write.period != inst.period:
        return (f"installment {write.installment} is due in {inst.period}, not "
                f"{write.period}")
    if not _subject_matches(facts, write, borrower):
        return "it names another subject's ID number than the borrower's"
    return None


def bureau_matches_truth(facts: Facts) -> list[Violation]:
    """Every credit-file record is the record of a true installment (its account, installment,
    period and subject), and at the end of the run every settled period the bureau should
    hold matches the oracle — a delinquency that vanished included."""
    violations = _identities(facts)
    oracle = facts.oracle
    held = {
        key: "overdue" if any(r.status == "overdue" for r in rows) else "current"
        for key, rows in groupby(facts.bureau_records, key=lambda r: (r.account, r.period))
    }
    mismatches: list[tuple[str, str, str, str | None, str, list[TrueInstallment]]] = []
    for borrower in oracle.borrowers:
        account = oracle.loan_of(borrower)
        for period, members_iter in groupby(oracle.installments(borrower),
                                            key=lambda i: i.period):
            members = list(members_iter)
            status = held.get((account, period))
            truth, settled = _period_truth(facts, members)
            if not settled or status == truth or (status is None and truth == "current"):
                continue  # a file that says nothing of a current period does no harm
            mismatches.append((borrower, account, period, status, truth, members))
    if not mismatches:
        return violations
    wanted = {(account, period) for _, account, period, *_ in mismatches}
    writes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for write in facts.credit_writes:
        if (write.account, write.period) in wanted and write.seq:
            writes[(write.account, write.period)].append(write.seq)
    for borrower, account, period, status, truth, members in mismatches:
        late = [i for i in members if oracle.truly_delinquent(i, facts.end)]
        worst = late[0] if late else members[0]
        evidence = list(writes.get((account, period), []))
        for inst in members:
            evidence += facts.payment_seqs(inst.settled_by)
        if late and status != "overdue":
            evidence += facts.batches_between(oracle.threshold_instant(late[0]),
                                              reporting_deadline(facts, late[0]))
        shown = status if status is not None else "nothing (no record)"
        violations.append(Violation(
            "bureau_matches_truth",
            f"at the end of the run the bureau holds {period} as {shown}, but the truth is "
            f"{truth}",
            borrower=borrower, subject=facts.subject(borrower), installment=worst.number,
            instants=facts.instants(worst),
            evidence=tuple(sorted(set(evidence))),
        ))
    return violations


def _period_truth(facts: Facts, members: list[TrueInstallment]) -> tuple[str, bool]:
    """The true status of a period, and whether it is settled enough to judge."""
    oracle = facts.oracle
    truth = "current"
    settled = True
    for inst in members:
        if oracle.truly_delinquent(inst, facts.end):
            truth = "overdue"
            settled = settled and reporting_deadline(facts, inst) <= facts.end
        elif inst.settled_at is None:
            settled = False
    return truth, settled


def _identities(facts: Facts) -> list[Violation]:
    """One violation per record that is no true installment's record."""
    violations: list[Violation] = []
    seen: set[tuple[str, str, int]] = set()
    for write in facts.credit_writes:
        if write.deleted:
            continue
        key = (write.subject_id, write.account, write.installment)
        if key in seen:
            continue
        why = _identity(facts, write)
        if why is None:
            continue
        seen.add(key)
        borrower = facts.borrower_of(write.account)
        violations.append(Violation(
            "bureau_matches_truth",
            f"the bureau recorded {write.status} for account {write.account} installment "
            f"{write.installment} ({write.period}) at {facts.iso(write.at)}, but {why}",
            borrower=borrower, subject=facts.subject(borrower) if borrower else None,
            installment=write.installment, instants={"recorded_at": facts.iso(write.at)},
            evidence=(write.seq,) if write.seq else (), cause="record of no true installment"))
    return violations
