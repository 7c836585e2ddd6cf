"""The defect catalogue (README, "Defect catalogue"): named, switchable mistakes in the
reference parties.

Each defect lives in the party its name starts with; planting one proves the
scenario library catches that class of integration bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from simulator.core.errors import UnknownDefectError

__all__ = ["DEFECTS", "Defect", "validate_defects"]


@dataclass(frozen=True, slots=True)
class Defect:
    name: str
    mistake: str
    #: the invariants whose violation explains this defect
    explained_by: tuple[str, ...]

    @property
    def party(self) -> str:
        return self.name.split(".", 1)[0]


#: A lost repayment never reaches the bank (nor is it in transit any more); the money goes
#: missing, and the borrower then looks delinquent: the bank applies their next repayment
#: to the installment the lost one paid, so a later installment truly paid on time is
#: reported overdue.
_LOST = ("exactly_once_posting", "money_conserved", "in_transit_bounded", "no_false_overdue",
         "no_false_overdue_sms", "false_reports_corrected", "bureau_matches_truth")

#: A repayment posted twice credits money nobody paid: the loan looks paid ahead, so a true
#: delinquency goes unreported, and the bank gives back as "surplus" money the borrower
#: owed (which truly leaves them short — and so truly late, while the bank, believing the
#: loan paid, never reports it: a replayed partial payment or payoff does both).
_TWICE = ("exactly_once_posting", "money_conserved", "true_overdue_reported",
          "bureau_matches_truth", "no_wrongful_refund")

#: A repayment judged late that was paid on time: a false record the bank never
#: corrects, since it believes it. Ordered by the wrong instant, a repayment that paid an
#: installment can also be taken for one that came after the loan was paid off (a payment at
#: the bank's counter overtaking it in transit): the bank then gives it back as surplus,
#: money the borrower owed under that payment.
_MISJUDGED = ("no_false_overdue", "no_false_overdue_sms", "false_reports_corrected",
              "bureau_matches_truth", "no_wrongful_refund")

#: A repayment in transit the bank acts without: an on-time one is reported overdue (and
#: corrected when it arrives); a late one is reported in a worse days-past-due bucket than it
#: reached, which nobody corrects, so the credit file ends up wrong too.
_UNSEEN_IN_TRANSIT = ("no_false_overdue", "no_false_overdue_sms", "bureau_matches_truth")

DEFECTS: dict[str, Defect] = {d.name: d for d in (
    Defect("bank.posts_by_receipt_time",
           "lateness is judged by when the bank received the repayment, not its value time",
           _MISJUDGED),
    Defect("bank.reports_without_reconciliation",
           "overdue messages and bureau delinquencies go out without waiting for the "
           "reconciliation file",
           _UNSEEN_IN_TRANSIT),
    Defect("bank.no_correction_on_late_arrival",
           "an on-time repayment that arrives late does not produce a bureau correction",
           ("false_reports_corrected", "bureau_matches_truth")),
    Defect("bank.utc_cutoff",
           "due end is computed at midnight UTC instead of local midnight",
           # a day counted too many: the bank believes its false record (a late payment
           # made before the US threshold), so it never corrects it either
           ("no_false_overdue", "no_false_overdue_sms", "true_overdue_reported",
            "false_reports_corrected", "bureau_matches_truth")),
    Defect("bank.ignores_holiday_shift",
           "due dates are not shifted when the contract says they are",
           # the bank believes its false records, so it never corrects them either
           ("no_false_overdue", "no_false_overdue_sms", "false_reports_corrected",
            "bureau_matches_truth")),
    Defect("bank.no_tolerance",
           "a residual below the arrears tolerance still counts as overdue",
           ("no_false_overdue", "no_false_overdue_sms", "bureau_matches_truth")),
    Defect("bank.ignores_idempotency_key",
           "a replayed repayment is posted again",
           _TWICE),
    Defect("bank.suppresses_delinquency",
           "true delinquencies are never reported",
           ("true_overdue_reported", "bureau_matches_truth")),
    Defect("platform.no_retry",
           "a forward that fails once is never retried",
           _LOST),
    Defect("platform.new_key_per_retry",
           "each retry carries a fresh idempotency key",
           # the bank posts a payment id once and refuses the retry; the platform then
           # refunds money the bank has posted: the borrower has the money back (truly
           # unpaid, and owed money was refunded) while the bank thinks it paid
           ("exactly_once_posting", "money_conserved", "true_overdue_reported",
            "bureau_matches_truth", "no_wrongful_refund")),
    Defect("platform.outbox_not_durable",
           "pending forwards live in memory and are lost in a crash",
           _LOST),
    Defect("platform.reconciliation_omits_pending",
           "the reconciliation file lists only repayments the bank acknowledged",
           _UNSEEN_IN_TRANSIT),
    Defect("platform.value_time_is_send_time",
           "the repayment is stamped with the time it was forwarded, not captured",
           _MISJUDGED),
    Defect("bureau.correction_ignored",
           "corrections do not rewrite the payment history",
           ("false_reports_corrected", "bureau_matches_truth")),
    Defect("bureau.dispute_never_resolved",
           "disputes are never resolved",
           ("false_reports_corrected",)),
)}


def validate_defects(names: Iterable[str], *, where: str = "--defect") -> tuple[str, ...]:
    """Return the names sorted and deduplicated, or raise naming the unknown one."""
    result = []
    for name in names:
        if name not in DEFECTS:
            close = [d for d in DEFECTS if d.split(".", 1)[-1] == name.split(".", 1)[-1]]
            hint = f"; did you mean {close[0]}?" if close else "; see `lendsim defects`"
            raise UnknownDefectError(f"{where}: unknown defect {name!r}{hint}")
        result.append(name)
    return tuple(sorted(set(result)))
