"""False alarms: delinquencies a borrower was reported or texted for that were not true.

``no_false_overdue`` reads every write to a credit file as the bureau's database
took it — ordinary reports, corrections, dispute outcomes alike — so a false
"overdue" written by any route is seen at the instant it was written. A
delinquency is false when the installment was truly paid by its due end, when
it is recorded before the installment truly reached the jurisdiction's reporting
threshold (even if the borrower became truly late later) or it was paid before
ever reaching it (US: late, but under 30 days), or when it states more days past
due than were true at that instant (a worse bucket).

``no_false_overdue_sms`` reads the messages the SMS gateway delivered: any text
that speaks of an overdue installment counts, whatever fields it carries.
"""

from __future__ import annotations

import re
from datetime import datetime

from simulator.checks.facts import CreditWrite, Facts, Message, Violation
from simulator.checks.oracle import TrueInstallment

__all__ = ["falseness", "no_false_overdue", "no_false_overdue_sms", "speaks_of_overdue"]

#: words that make a text an overdue warning, whatever its ``reason`` field says
_OVERDUE_WORDS = re.compile(r"overdue|past[ -]due|delinquen|late payment|逾期|欠款|拖欠",
                            re.IGNORECASE)
_INSTALLMENT_IN_TEXT = re.compile(r"(?:installment|instalment|第)\s*(\d{1,3})", re.IGNORECASE)


def speaks_of_overdue(message: Message) -> bool:
    """Does a text tell its borrower that something is overdue?"""
    return message.reason == "overdue_warning" or bool(_OVERDUE_WORDS.search(message.text))


def falseness(facts: Facts, inst: TrueInstallment, at: datetime,
              stated_dpd: int | None) -> str | None:
    """Why a delinquency stated at ``at`` for ``inst`` is false (None: it is true).

    ``stated_dpd`` is the days past due a credit-file record states (None: a text, which
    states only that the installment is overdue). A record's falseness only ever ends, never
    starts, as time passes: the threshold and the true days past due only come nearer.
    """
    oracle = facts.oracle
    if inst.paid_on_time:
        return (f"it was paid at {facts.iso(inst.settled_at)}, before its due end "
                f"{facts.iso(inst.due_end)}")
    if stated_dpd is None:  # a text: false before the due end
        if at < inst.due_end:
            return f"its due end {facts.iso(inst.due_end)} had not come yet"
        return None
    threshold = oracle.threshold_instant(inst)
    days = oracle.jurisdiction.report_threshold_dpd
    # paid late, but before the threshold: no record of it was ever true (US: under 30 days)
    never = (None if inst.settled_at is None or inst.settled_at >= threshold else
             f"it was paid at {facts.iso(inst.settled_at)}, before it reached the reporting "
             f"threshold ({days} day(s) past due) at {facts.iso(threshold)}")
    if at < threshold:
        return never or (f"it reached the reporting threshold ({days} day(s) past due) only at "
                         f"{facts.iso(threshold)}")
    true_dpd = oracle.days_past_due(inst, at)
    bucket = oracle.jurisdiction.dpd_bucket
    if bucket(stated_dpd) > bucket(true_dpd):
        return f"it was truly {true_dpd} day(s) past due then"
    return never


def no_false_overdue(facts: Facts) -> list[Violation]:
    """No credit file ever showed a delinquency that was not true when it was written."""
    found: dict[tuple[str, int], Violation] = {}
    for write in facts.credit_writes:
        if write.deleted or write.status != "overdue":
            continue
        key = (write.account, write.installment)
        if key in found:
            continue
        inst = facts.truth_of(write.account, write.installment)
        if inst is None:
            continue  # a record no installment answers to: bureau_matches_truth reports it
        why = falseness(facts, inst, write.at, write.days_past_due)
        if why is None:
            continue
        found[key] = _violation(facts, "no_false_overdue", inst, write, why)
    return list(found.values())


def _violation(facts: Facts, invariant: str, inst: TrueInstallment,
               sighting: CreditWrite | Message, why: str) -> Violation:
    if isinstance(sighting, CreditWrite):
        what = (f"the bureau recorded installment {inst.number} as "
                f"{sighting.days_past_due} day(s) past due at {facts.iso(sighting.at)}")
        moment = "reported_at"
    else:
        what = (f"an overdue warning for installment {inst.number} was texted at "
                f"{facts.iso(sighting.at)}")
        moment = "texted_at"
    cause = None
    behind: list[str] = []
    if inst.paid_on_time:
        cause, behind = facts.why_unpaid(inst, sighting.at)
    evidence = [sighting.seq] if sighting.seq else []
    evidence += facts.payment_seqs([*inst.settled_by, *behind])
    return Violation(
        invariant, f"{what}, but {why}", borrower=inst.borrower,
        subject=facts.subject(inst.borrower), installment=inst.number,
        instants=facts.instants(inst, **{moment: sighting.at}),
        evidence=tuple(dict.fromkeys(evidence)), cause=cause)


def _recipient(facts: Facts, message: Message) -> str | None:
    digits = "".join(ch for ch in message.phone if ch.isdigit())
    borrower = facts.borrower_by_phone.get(digits)
    if borrower is None and message.borrower in facts.oracle.borrowers:
        borrower = message.borrower
    return borrower


def _installment_named(facts: Facts, borrower: str, message: Message) -> int | None:
    if message.installment is not None:
        return message.installment
    match = _INSTALLMENT_IN_TEXT.search(message.text)
    return int(match.group(1)) if match else None


def no_false_overdue_sms(facts: Facts) -> list[Violation]:
    """No borrower was texted that an installment was overdue when it was not."""
    found: dict[tuple[str, int | None], Violation] = {}
    oracle = facts.oracle
    for message in facts.messages:
        if not speaks_of_overdue(message):
            continue
        borrower = _recipient(facts, message)
        if borrower is None:
            continue  # not a borrower of this world: nobody was misinformed
        number = _installment_named(facts, borrower, message)
        installments = oracle.installments(borrower)
        if number is not None and 1 <= number <= len(installments):
            inst = installments[number - 1]
            why = falseness(facts, inst, message.at, None)
            if why is not None and (borrower, number) not in found:
                found[(borrower, number)] = _violation(
                    facts, "no_false_overdue_sms", inst, message, why)
            continue
        if (borrower, None) in found or any(oracle.overdue_at(inst, message.at)
                                            for inst in installments):
            continue
        found[(borrower, None)] = Violation(
            "no_false_overdue_sms",
            f"a text at {facts.iso(message.at)} told the borrower a repayment was overdue, but "
            "no installment of theirs was overdue then",
            borrower=borrower, subject=facts.subject(borrower),
            instants={"texted_at": facts.iso(message.at)},
            evidence=(message.seq,) if message.seq else ())
    return list(found.values())
