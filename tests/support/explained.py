"""A small explained run for the timeline and report tests: the incident, with its defect.

Alice repays installment 1 on its due date at 21:00 while the docking link (repayment API
and reconciliation file) is down for three days from 08:00; three generated borrowers pay
on their due dates. With ``bank.reports_without_reconciliation`` planted the bank texts and
credit-reports them all at the day-end batch — violations of ``no_false_overdue`` and
``no_false_overdue_sms`` whose evidence is the record or text, the capture and the posting.
"""

from __future__ import annotations

from simulator.faces.batch import Done, Job, run_job
from simulator.scenarios.loader import load_scenario_text
from tests.support.scenario_text import borrower, docking_outage, generated, repay, scenario_text

__all__ = ["ID_NUMBER", "INCIDENT_STEPS", "explained_run"]

#: alice's ID number (a report must only ever show it masked)
ID_NUMBER = "110101199003071234"
INCIDENT_STEPS = [*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")]


def explained_run(defects: tuple[str, ...] = ("bank.reports_without_reconciliation",), *,
                  picks: tuple[str, ...] = (), utc: bool = False,
                  scenario: str = "incident-small", expected: tuple[str, ...] = (),
                  crowd: int = 3) -> Done:
    """Run the small incident and explain it (timelines and evidence); ``expected``: the
    violations the scenario declares; ``crowd``: how many generated borrowers join alice."""
    extra = {"expect": {"violations": list(expected)}} if expected else {}
    text = scenario_text(
        scenario=scenario, until="2026-03-05",
        borrowers=[borrower(id_number=ID_NUMBER, principal="1200.00"), generated(crowd)],
        steps=INCIDENT_STEPS, **extra)
    loaded = load_scenario_text(text, file=f"scenarios/{scenario}.yaml")
    return run_job(Job(loaded, defects, explain=True, picks=picks, utc=utc))
