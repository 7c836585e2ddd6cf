"""Opening the books: every borrower's loan booked at the bank and opened in the app.

The world books the scenario's loans a loan file at a time (``book_loans``, at most
:data:`LOAN_FILE` each) — or one by one with a bank that takes no files — under the
id the bank's answer names, tells the oracle which loan is whose, and opens each in
the platform's app with only what the app needs. A role that will not book or open a
loan cannot take part: a :class:`~simulator.world.roles.SystemFailure` saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.checks.oracle import Oracle
from simulator.engine.links import Body, Response
from simulator.scenarios.model import Scenario
from simulator.world.roles import SystemFailure

__all__ = ["LOAN_FILE", "LOAN_ID_PREFIX", "open_books"]

#: the loan number the world asks the bank to book a borrower's loan under
LOAN_ID_PREFIX = "L-"
#: loans booked per loan file (the bank contract's limit)
LOAN_FILE = 500

#: a call at a role's desk: (role, operation, body) → answer
Desk = Callable[[str, str, Body], Response]


def _title(answer: Response) -> str:
    return str(answer.body.get("title", "")) if isinstance(answer.body, dict) else ""


def open_books(scenario: Scenario, desk: Desk, oracle: Oracle) -> None:
    """Book every loan at the bank, then open it in the app."""
    terms = scenario.terms
    contract: dict[str, Any] = {"grace_days": terms.grace_days,
                                "arrears_tolerance": terms.arrears_tolerance,
                                "holiday_shift": terms.holiday_shift}
    loans = []
    for borrower in scenario.borrowers:
        loan = borrower.loan
        loans.append({
            "loan_id": f"{LOAN_ID_PREFIX}{borrower.id}", "borrower": borrower.id,
            "subject_id": borrower.id_number, "name": borrower.name, "phone": borrower.phone,
            "principal": loan.principal, "annual_rate": str(loan.annual_rate),
            "months": loan.months, "method": loan.method,
            "disbursed": loan.disbursed.isoformat(), **contract,
        })
    booked: list[str] = []
    for first in range(0, len(loans), LOAN_FILE):
        booked.extend(_book(loans[first:first + LOAN_FILE], desk))
    for borrower, loan_id in zip(scenario.borrowers, booked, strict=True):
        oracle.open_account(borrower.id, loan_id)
        loan = borrower.loan
        # the app keeps only what it needs: no ID number, name or rate
        opened = desk("platform", "open_loan", {
            "loan_id": loan_id, "borrower": borrower.id, "phone": borrower.phone,
            "principal": loan.principal, "months": loan.months,
            "disbursed": loan.disbursed.isoformat(),
        })
        if not opened.ok:
            raise SystemFailure(f"the platform did not open loan {loan_id} of {borrower.id}: "
                                f"it answered {opened.status} {_title(opened)}".rstrip(),
                                role="platform")


def _book(loans: list[Body], desk: Desk) -> list[str]:
    """Book one file of loans; the loan ids, as the bank's answer names them."""
    if not loans:
        return []
    answer = desk("bank", "book_loans", {"loans": loans})
    if answer.status in (404, 405):  # a bank that takes no loan files
        return [_booked(loan, desk("bank", "book_loan", loan)) for loan in loans]
    if answer.status != 201 or len(answer.body.get("loans", ())) != len(loans):
        raise SystemFailure(f"the bank did not book the scenario's loans: book_loans answered "
                            f"{answer.status} {_title(answer)}".rstrip(), role="bank")
    return [_booked(loan, Response(201, booked))
            for loan, booked in zip(loans, answer.body["loans"], strict=True)]


def _booked(loan: Body, answer: Response) -> str:
    loan_id = answer.body.get("loan_id") if answer.status == 201 else None
    if not isinstance(loan_id, str) or not loan_id:
        raise SystemFailure(f"the bank did not book the loan of {loan['borrower']}: it "
                            f"answered {answer.status} {_title(answer)}".rstrip(), role="bank")
    return loan_id
