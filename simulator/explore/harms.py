"""Worlds beyond the bank's wait: the one harm an explored world declares.

Most explored worlds are *fair* (:mod:`~simulator.explore.swarm`): a correct bank always
learns of an on-time repayment before it acts. But the mistakes that show only after a
bank rightly acted on "unpaid" — a correction that never comes when the repayment
finally arrives with its on-time value time — need a world where it did. So one world
in :data:`SHARE` has the docking link (the repayment API and the reconciliation file)
down from shortly before a borrower repays an installment on time until after the
bank's wait for the file ran out at the first day-end batch that finds it late, and a
few hours more. Any correct bank then texts the borrower and may report the installment
delinquent — at once in China, where one day past due is reported; in the United
States when an earlier installment the repayment also settles has reached 30 days past
due by the bank's count. README, "Scenario reference" (Expected violations), and the
library's ``outages/api-and-recon-down-longer-than-wait`` call that a legitimate harm.
The world declares it — ``no_false_overdue`` and ``no_false_overdue_sms``, in any scope
— and runs on long enough for the repayment to arrive and every false record to be
corrected; everything else must still hold.

In a share (:data:`LONG`) of those reported from one day past due, the link stays down
longer than the jurisdiction's correction limit after the borrower disputes the false
record, as in the library's ``disputes/dispute-of-false-record-platform-unreachable``:
the dispute, verified with the bank (which asks the platform what it captured), must
remove it before the repayment arrives. Hourly retries through a month-long outage only
cost run time, so there the platform retries at most twice a day — still well within
the day allowed once the link is back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from simulator.core.calendars import Jurisdiction, local_midnight
from simulator.scenarios.model import (
    BankPolicy,
    Dispute,
    ExpectedViolation,
    Fault,
    PlatformPolicy,
    Repay,
    Step,
)

__all__ = ["LONG", "SHARE", "Harm", "beyond_the_wait"]

#: the share of explored worlds that go beyond the bank's wait
SHARE = 0.15
#: the share of those (where one day past due is reported) that outlast a dispute's limit
LONG = 0.35
#: a long outage ends before the installment is this late (a worse days-past-due bucket —
#: CN's second starts at 31 — is a harm of its own, which no world declares)
_LONGEST = timedelta(days=29)
#: such a world runs to the local midnight this long after the day the docking link is back
#: (at least 5 days after it): the repayment arrives at once, its correction within a few
#: days even behind the fair faults of the bank->bureau link
_AFTER = timedelta(days=6)


@dataclass(frozen=True, slots=True)
class Harm:
    """What a world beyond the wait adds: its steps, the harm it declares, the earliest end
    of run that leaves room for every correction, and the platform's policy."""

    steps: tuple[Step, ...]
    expected: tuple[ExpectedViolation, ...]
    until: datetime
    platform: PlatformPolicy


def _local(day: date, minutes: int, jurisdiction: Jurisdiction) -> datetime:
    naive = datetime.combine(day, time(minutes // 60, minutes % 60))
    return naive.replace(tzinfo=jurisdiction.tz).astimezone(UTC)


def beyond_the_wait(rng: random.Random, due_ends: list[tuple[str, int, datetime, str]],
                    bank: BankPolicy, platform: PlatformPolicy, jurisdiction: Jurisdiction,
                    start: datetime) -> Harm | None:
    """A docking outage beyond the bank's wait around one of ``due_ends`` (a borrower
    repaying manually, an installment, its due end, its period), or None if none fits in
    the run."""
    if not due_ends:
        return None
    handle, number, end, period = rng.choice(due_ends)
    tz = jurisdiction.tz
    late = end.astimezone(tz).date()  # the first day the installment is late
    paid = _local(late - timedelta(days=1), rng.randint(8 * 60, 22 * 60), jurisdiction)
    begin = paid - timedelta(minutes=rng.choice((1, 30, 120)))
    if begin <= start.astimezone(UTC):
        return None
    # the batch for the first late day runs the next day; it waits at most recon_max_wait
    batch = bank.batch_at.hour * 60 + bank.batch_at.minute
    acts = _local(late + timedelta(days=1), batch, jurisdiction) + bank.recon_max_wait
    back = acts + timedelta(hours=rng.choice((1, 3, 6)))
    # reported at once (CN, from one day past due): a dispute can be about it
    reported = jurisdiction.report_threshold_dpd <= 1
    extra: list[Step] = []
    if reported and rng.random() < LONG:
        disputed = _local((acts.astimezone(tz) + timedelta(days=rng.choice((1, 2)))).date(),
                          rng.randint(10 * 60, 17 * 60), jurisdiction)
        longer = disputed + jurisdiction.correction_limit + timedelta(days=rng.choice((1, 2, 3)))
        if longer < _local(late, 0, jurisdiction) + _LONGEST:
            back = longer
            extra.append(Step(disputed.astimezone(tz), Dispute(handle, period)))
            platform = replace(platform, retry_max=timedelta(hours=12))
    begin_local, back_local = begin.astimezone(tz), back.astimezone(tz)
    steps = tuple(Step(begin_local, Fault("outage", begin_local, back_local, link=link))
                  for link in ("platform->bank", "recon"))
    expected = (ExpectedViolation("no_false_overdue"), ExpectedViolation("no_false_overdue_sms"))
    until = local_midnight(back_local.date() + _AFTER, tz)
    return Harm((*steps, Step(paid.astimezone(tz), Repay(handle, number)), *extra), expected,
                until, platform)
