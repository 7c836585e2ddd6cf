"""The reference credit bureau: payment history, corrections, disputes, audited reports."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simulator.world.world import World
from tests.support.worlds import (
    LOAN,
    MakeWorld,
    advance,
    begin,
    dispute,
    entries,
    fault,
    instant,
    repay,
)

SUBJECT = "110101199001011234"


def record(status: str, *, correction: bool = False, installment: int = 1) -> dict[str, object]:
    return {"subject_id": SUBJECT, "account": "L-1", "installment": installment,
            "period": "2026-02", "status": status,
            "days_past_due": 3 if status == "overdue" else 0, "correction": correction}


def submit(world: World, *records: dict[str, object]) -> dict[str, object]:
    response = world.bureau.handle("submit_reports", {"furnisher": "bank",
                                                      "records": list(records)}, {})
    assert response.status == 200
    return response.body


def status_of(world: World, subject: str = SUBJECT, account: str = "L-1",
              period: str = "2026-02") -> str:
    return world.bureau.read_period_status(subject, account, period)


# -- reports and corrections -------------------------------------------------------------


def test_ordinary_report_never_downgrades_a_delinquency(make_world: MakeWorld) -> None:
    """An ordinary current report leaves an overdue record in the history; a current record
    is upgraded to overdue."""
    world = make_world()
    assert submit(world, record("current"))["applied"] == 1
    assert submit(world, record("overdue"))["applied"] == 1
    assert status_of(world) == "overdue"
    answer = submit(world, record("current"))
    assert (answer["applied"], answer["ignored"]) == (0, 1)
    assert status_of(world) == "overdue"
    assert list(world.bureau.all_records()) == [(SUBJECT, "L-1", 1, "2026-02", "overdue", 3)]


@pytest.mark.parametrize(
    "defects", [pytest.param((), id="reference"),
                pytest.param(("bureau.correction_ignored",), id="bureau.correction_ignored")])
def test_correction_rewrites_the_history(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """A correction turns an overdue record back to current; bureau.correction_ignored ignores
    it and the false record stays."""
    world = make_world(defects=defects)
    submit(world, record("overdue"))
    answer = submit(world, record("current", correction=True))
    ignored = bool(defects)
    assert (answer["applied"], answer["ignored"]) == ((0, 1) if ignored else (1, 0))
    assert status_of(world) == ("overdue" if ignored else "current")
    assert len(entries(world, "bureau.correction")) == (0 if ignored else 1)


def test_stale_ordinary_report_does_not_undo_a_correction(make_world: MakeWorld) -> None:
    """A late copy of an old overdue report, arriving after the correction of that record
    (a delayed delivery), changes nothing: the corrected record stays current."""
    world = make_world()
    submit(world, record("overdue"))
    submit(world, record("current", correction=True))
    answer = submit(world, record("overdue"))
    assert (answer["applied"], answer["ignored"]) == (0, 1)
    assert status_of(world) == "current"
    assert list(world.bureau.all_records()) == [(SUBJECT, "L-1", 1, "2026-02", "current", 0)]
    # a record never corrected still takes a delinquency, on another installment of the file
    assert submit(world, record("overdue", installment=2))["applied"] == 1
    assert status_of(world) == "overdue"


def test_stale_report_after_a_delayed_delivery_keeps_the_correction(
    make_world: MakeWorld,
) -> None:
    """End to end: the false report the bank sent when its wait ran out is delayed two days on
    the bureau link while the bank's retry lands, the repayment arrives and is corrected; the
    delayed copies arriving afterwards leave the record current."""
    world = begin(make_world(until="2026-02-20T00:00", steps=[
        fault("2026-02-01T08:00", "outage", link="platform->bank", for_="4d"),
        fault("2026-02-01T08:00", "outage", link="recon", for_="4d"),
        repay("2026-02-01T21:00"),
        fault("2026-02-05T00:00", "delay", link="bank->bureau", by="2d",
              until="2026-02-05T00:40")]))
    advance(world, "2026-02-06T00:00")
    subject = world.scenario.borrowers[0].id_number
    assert status_of(world, subject, LOAN) == "current"  # corrected at 02-05 08:13
    advance(world, "2026-02-08T00:00")
    late = [e for e in entries(world, "link.late") if e.party == "bank->bureau"]
    assert late, "the delayed copies of the report arrived"
    assert all(e.at > instant(world, "2026-02-07T00:00") for e in late)
    assert status_of(world, subject, LOAN) == "current"


# -- disputes --------------------------------------------------------------------------------


def false_record_then_dispute(*extra_steps: str, defects: tuple[str, ...] = (),
                              pays: bool = True) -> dict[str, object]:
    """A false overdue record the bank never corrects (its planted defect), then a dispute."""
    steps = [fault("2026-02-01T08:00", "outage", link="platform->bank", for_="6d"),
             fault("2026-02-01T08:00", "outage", link="recon", for_="6d"),
             dispute("2026-02-15T12:00", "2026-02"), *extra_steps]
    if pays:
        steps.append(repay("2026-02-01T21:00"))
    return {"defects": ("bank.no_correction_on_late_arrival", *defects), "steps": steps}


def alice(world: World) -> str:
    return world.scenario.borrowers[0].id_number


@pytest.mark.parametrize(
    ("pays", "extra_steps", "attempts", "resolved_at", "outcome", "final"),
    [
        pytest.param(True, (), 1, "2026-02-16T12:00", "corrected", "current",
                     id="false-record-corrected"),
        pytest.param(True, (fault("2026-02-15T12:00", "outage", link="bureau->bank",
                                  for_="3d"),),
                     3, "2026-02-18T12:00", "corrected", "current", id="bank-unreachable-3d"),
        pytest.param(False, (), 1, "2026-02-16T12:00", "verified", "overdue",
                     id="true-record-verified"),
    ],
)
def test_dispute_is_verified_with_the_bank_and_resolved_within_the_limit(
    make_world: MakeWorld, pays: bool, extra_steps: tuple[str, ...], attempts: int,
    resolved_at: str, outcome: str, final: str,
) -> None:
    """A dispute is verified with the furnisher over bureau->bank (retried while it is down)
    and resolved before its due date: a false record is corrected, a true one kept."""
    world = begin(make_world(**false_record_then_dispute(*extra_steps, pays=pays)))
    advance(world, "2026-02-15T13:00")
    assert status_of(world, alice(world), LOAN) == "overdue"
    advance(world, "2026-03-20T00:00")
    verifications = [e for e in entries(world, "link.call")
                     if e.party == "bureau->bank" and e.data["op"] == "verify_dispute"]
    assert [v.data["outcome"] for v in verifications] == \
        ["refused"] * (attempts - 1) + ["delivered"]
    assert verifications[-1].at == instant(world, resolved_at)
    answer = world.bureau.handle("get_dispute", {"dispute_id": "DSP000001"}, {})
    assert answer.status == 200
    assert (answer.body["status"], answer.body["outcome"]) == ("resolved", outcome)
    assert datetime.fromisoformat(answer.body["resolved"]) == instant(world, resolved_at)
    # CN's limit: 20 days from the dispute (02-15 12:00), past the end of February
    assert datetime.fromisoformat(answer.body["due_by"]) == instant(world, "2026-03-07T12:00")
    assert status_of(world, alice(world), LOAN) == final


@pytest.mark.parametrize(
    "defects", [pytest.param((), id="reference"),
                pytest.param(("bureau.dispute_never_resolved",),
                             id="bureau.dispute_never_resolved")])
def test_defect_dispute_never_resolved(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bureau.dispute_never_resolved leaves a dispute open past its due date, with the false
    record in place."""
    world = begin(make_world(**false_record_then_dispute(defects=defects)))
    advance(world, "2026-03-20T00:00")
    answer = world.bureau.handle("get_dispute", {"dispute_id": "DSP000001"}, {})
    assert datetime.fromisoformat(answer.body["due_by"]) < world.clock.now
    never = bool(defects)
    assert answer.body["status"] == ("open" if never else "resolved")
    assert status_of(world, alice(world), LOAN) == ("overdue" if never else "current")
    verifications = [e for e in entries(world, "link.call") if e.party == "bureau->bank"]
    assert (verifications == []) is never


def test_dispute_the_furnisher_cannot_verify_is_resolved_within_the_limit(
    make_world: MakeWorld,
) -> None:
    """A dispute about an account the furnisher does not know (it answers 404, for good) is
    still resolved by its due date rather than retried forever."""
    world = begin(make_world())
    advance(world, "2026-02-10T00:00")
    opened = world.bureau.handle("open_dispute", {"subject_id": SUBJECT, "account": "L-ghost",
                                                  "period": "2026-02"}, {})
    assert opened.status == 201
    due_by = datetime.fromisoformat(opened.body["due_by"])
    assert due_by == instant(world, "2026-03-02T00:00")  # 20 days (CN) from 02-10
    world.scheduler.run_until(due_by + timedelta(days=1))
    verifications = [e.data for e in entries(world, "link.call") if e.party == "bureau->bank"]
    assert [v["status"] for v in verifications] == [404]  # asked once: a 404 is final
    answer = world.bureau.handle("get_dispute", {"dispute_id": opened.body["dispute_id"]}, {})
    assert answer.body["status"] == "resolved"
    # verified a day after it was opened, and resolved on that answer
    assert datetime.fromisoformat(answer.body["resolved"]) == instant(world, "2026-02-11T00:00")


def test_unknown_dispute_is_not_found(make_world: MakeWorld) -> None:
    """Asking for a dispute that was never opened answers 404."""
    answer = make_world().bureau.handle("get_dispute", {"dispute_id": "DSP000404"}, {})
    assert answer.status == 404


# -- credit reports ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "consent", "status"),
    [
        pytest.param("loan_application", "C-1", 200, id="application-with-consent"),
        pytest.param("account_review", "C-2", 200, id="review-with-consent"),
        pytest.param("subject_request", None, 200, id="subject-asks-for-own-file"),
        pytest.param("loan_application", None, 403, id="no-consent"),
        pytest.param("loan_application", "", 403, id="empty-consent"),
        pytest.param("marketing", "C-3", 403, id="purpose-not-permitted"),
        pytest.param("", "C-4", 403, id="no-purpose"),
    ],
)
def test_credit_report_needs_purpose_and_consent_and_is_audited(
    make_world: MakeWorld, purpose: str, consent: str | None, status: int,
) -> None:
    """A credit report is given only for a permitted purpose with the subject's consent, every
    query (allowed or refused) is audited, and a refusal is a 403 problem."""
    world = make_world()
    submit(world, record("overdue"))
    body: dict[str, object] = {"requester": "lender-9", "subject_id": SUBJECT,
                               "purpose": purpose}
    if consent is not None:
        body["consent_ref"] = consent
    answer = world.bureau.handle("credit_report", body, {})
    assert answer.status == status
    if status == 200:
        assert answer.body["accounts"] == [{"account": "L-1", "period": "2026-02",
                                            "status": "overdue", "days_past_due": 3}]
    else:
        assert answer.body["title"] == "Query not permitted"
        assert "accounts" not in answer.body
    audit = world.bureau.disk.execute(
        "SELECT requester, purpose, subject_id, at, allowed FROM queries").fetchall()
    assert audit == [("lender-9", purpose, SUBJECT, world.clock.now.isoformat(),
                      int(status == 200))]
    assert [e.data["allowed"] for e in entries(world, "bureau.queried")] == [status == 200]
