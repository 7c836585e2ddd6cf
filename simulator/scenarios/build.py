"""A schema-valid scenario document → the typed model (loading, stage 3).

Checks what a schema cannot: references between borrowers and steps,
instants within the run, loan timelines that can happen (no installment due
before the run starts, no loan disbursed after it ends, no repayment before its
loan is disbursed), money in minor units (at most the currency's decimals), and
generated borrowers whose ids and personal data never clash. Every mistake is
reported (one per borrower, step or part), not only the first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, cast

from simulator.core.calendars import add_months
from simulator.core.calendars import jurisdiction as jurisdiction_profile
from simulator.core.durations import parse_clock_time, parse_duration, parse_instant
from simulator.core.errors import ScenarioError, ScenarioErrors
from simulator.core.rng import derive_seed
from simulator.scenarios.borrowers import default_personal_data, generate_borrowers
from simulator.scenarios.defects import DEFECTS
from simulator.scenarios.model import (
    INVARIANTS,
    BankPolicy,
    Borrower,
    BureauExpectation,
    Check,
    ContractTerms,
    Dispute,
    Expect,
    ExpectedViolation,
    Fault,
    LoanTerms,
    Pays,
    PlatformPolicy,
    Repay,
    Scenario,
    Step,
)
from simulator.scenarios.positions import (
    Location,
    YamlMapping,
    YamlSequence,
    key_path,
    line_of,
    show_value,
    value_name,
)

__all__ = ["ScenarioBuilder"]


class _Unknown(Exception):
    """A reference to a borrower whose own entry was in error: already reported."""

#: Decimal places of the minor unit, per currency.
_MINOR_DIGITS = {"CNY": 2, "USD": 2}




class ScenarioBuilder:
    """Turns a schema-valid document into the typed model, checking what a schema can't."""

    start: datetime
    until: datetime

    def __init__(self, document: YamlMapping, file: str | None) -> None:
        self.document = document
        self.file = file
        code = document.get("jurisdiction", "CN")
        self.jurisdiction = jurisdiction_profile(code)
        self.tz: tzinfo = self.jurisdiction.tz
        self.minor_digits = _MINOR_DIGITS[self.jurisdiction.currency]
        self.seed: int = document.get("seed", 0)
        self.borrowers: dict[str, Borrower] = {}
        self.borrower_lines: dict[str, int] = {}
        #: how the known ids are listed in a message: named ids, generated ranges
        self.id_listing: list[str] = []
        self.errors: list[ScenarioError] = []
        self.failed: set[str] = set()  # borrowers whose entries were in error
        self.unknowable = False  # a generated block was in error

    def attempt(self, build: Callable[..., Any], *args: Any) -> Any:
        """``build(*args)``, or ``None`` with its mistake noted (the building goes on)."""
        try:
            return build(*args)
        except ScenarioError as error:
            self.errors.append(error)
        except _Unknown:
            pass
        return None

    # -- helpers --------------------------------------------------------

    def error(self, message: str, location: Location) -> ScenarioError:
        return ScenarioError(message, file=self.file, line=line_of(self.document, location),
                             key=key_path(location))

    def value(self, location: Location) -> Any:
        node: Any = self.document
        for part in location:
            node = node[part]
        return node

    def instant(self, location: Location) -> datetime:
        try:
            return parse_instant(self.value(location), self.tz, what=value_name(location))
        except ValueError as exc:
            raise self.error(str(exc), location) from None

    def duration(self, location: Location) -> timedelta:
        try:
            return parse_duration(self.value(location), what=value_name(location))
        except ValueError as exc:
            raise self.error(str(exc), location) from None

    def day(self, location: Location) -> date:
        text = self.value(location)
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.error(f"{value_name(location)!r} must be a date like 2026-01-01; "
                             f"{text!r} is not a real date", location) from None

    def money(self, location: Location) -> int:
        """Major units (``12000.50``) → minor units (``1200050``), exactly."""
        amount = Decimal(self.value(location))
        _, digits, exponent = amount.as_tuple()
        assert isinstance(exponent, int)  # the schema admits finite numbers only
        while digits and digits[-1] == 0 and exponent < 0:  # 0.50 has 1 decimal
            digits, exponent = digits[:-1], exponent + 1
        if exponent < -self.minor_digits:
            raise self.error(
                f"{value_name(location)!r} must have at most {self.minor_digits} decimals in "
                f"{self.jurisdiction.currency} (got {amount})", location)
        return int(amount.scaleb(self.minor_digits))

    def later(self, instant: datetime, duration: timedelta, location: Location) -> datetime:
        """``instant + duration`` as elapsed time (a DST change does not stretch 6h)."""
        try:
            return (instant.astimezone(UTC) + duration).astimezone(instant.tzinfo)
        except OverflowError:
            raise self.error(f"{value_name(location)!r} runs past the year 9999",
                             location) from None

    def known_borrower(self, location: Location) -> str:
        handle: str = self.value(location)
        if handle in self.failed or (self.unknowable and handle not in self.borrowers):
            raise _Unknown(handle)
        if handle not in self.borrowers:
            raise self.error(f"{value_name(location)!r} must be one of the scenario's borrowers: "
                             f"{', '.join(self.id_listing)} (got {handle!r})", location)
        return handle

    # -- the parts --------------------------------------------------------

    def build(self) -> Scenario:
        document = self.document
        start, until = self.instant(("start",)), self.instant(("until",))
        if until <= start:
            raise self.error(f"'until' must be after 'start' ({start.isoformat()}) "
                             f"(got {show_value(document['until'])})", ("until",))
        self.start, self.until = start, until
        self.build_borrowers()
        steps = [self.attempt(self.build_step, index)
                 for index in range(len(document.get("steps", ())))]
        terms = self.attempt(self.build_terms)
        bank, platform = self.attempt(self.build_bank), self.attempt(self.build_platform)
        defects, expect = self.attempt(self.build_defects), self.attempt(self.build_expect)
        if self.errors:
            found = sorted(self.errors, key=lambda error: error.line or 0)
            raise found[0] if len(found) == 1 else ScenarioErrors(found)
        return Scenario(
            id=document["scenario"],
            summary=document["summary"],
            start=start,
            until=until,
            borrowers=tuple(self.borrowers.values()),
            tags=tuple(document.get("tags", ())),
            jurisdiction=self.jurisdiction.code,
            seed=self.seed,
            terms=terms,
            bank=bank,
            platform=platform,
            defects=defects,
            steps=tuple(steps),
            expect=expect,
            file=Path(self.file) if self.file is not None else None,
        )

    def check_timeline(self, loan: LoanTerms, where: Location) -> None:
        """A loan the run can hold: nothing due before it starts, disbursed before it ends."""
        location = (*where, "loan", "disbursed")
        first_due = add_months(loan.disbursed, 1)
        start_day = self.start.astimezone(self.tz).date()
        if first_due < start_day:
            raise self.error(
                f"'disbursed' {loan.disbursed.isoformat()} makes installment 1 due on "
                f"{first_due.isoformat()}, before the run starts ({self.start.isoformat()}); "
                "what happens before 'start' is not simulated, so disburse it later or start "
                "earlier", location)
        disbursed_at = datetime.combine(loan.disbursed, time(0), tzinfo=self.tz)
        if disbursed_at >= self.until:
            raise self.error(
                f"'disbursed' {loan.disbursed.isoformat()} is at or after the run ends "
                f"({self.until.isoformat()}): nothing of this loan would happen", location)

    def build_defects(self) -> tuple[str, ...]:
        names = self.document.get("world", {}).get("defects", [])
        for index, name in enumerate(names):
            if name not in DEFECTS:
                raise self.error(f"unknown defect {name!r} (expected one of: "
                                 f"{', '.join(DEFECTS)})", ("world", "defects", index))
        return tuple(names)

    def build_bank(self) -> BankPolicy:
        where: Location = ("world", "bank")
        given = self.document.get("world", {}).get("bank", {})
        policy = BankPolicy()
        return BankPolicy(
            batch_at=(parse_clock_time(given["batch_at"]) if "batch_at" in given
                      else policy.batch_at),
            recon_max_wait=(self.duration((*where, "recon_max_wait"))
                            if "recon_max_wait" in given else policy.recon_max_wait),
        )

    def build_terms(self) -> ContractTerms:
        """The contractual keys of ``world.bank``: grace days, tolerance, holiday shift."""
        where: Location = ("world", "bank")
        given = self.document.get("world", {}).get("bank", {})
        terms = ContractTerms()
        return ContractTerms(
            grace_days=given.get("grace_days", terms.grace_days),
            arrears_tolerance=(self.money((*where, "arrears_tolerance"))
                               if "arrears_tolerance" in given else terms.arrears_tolerance),
            holiday_shift=given.get("holiday_shift", terms.holiday_shift),
        )

    def build_platform(self) -> PlatformPolicy:
        where: Location = ("world", "platform")
        given = self.document.get("world", {}).get("platform", {})
        policy = PlatformPolicy()
        return PlatformPolicy(**{
            name: self.duration((*where, name)) if name in given else getattr(policy, name)
            for name in ("forward_after", "retry_first", "retry_max")
        })

    def build_loan(self, where: Location) -> LoanTerms:
        given = self.value(where)
        disbursed = self.day((*where, "disbursed"))
        months: int = given["months"]
        try:
            add_months(disbursed, months)
        except ValueError:
            raise self.error(f"'disbursed' must leave room for {months} monthly installments "
                             f"before the year 10000 (got {disbursed.isoformat()})",
                             (*where, "disbursed")) from None
        return LoanTerms(
            principal=self.money((*where, "principal")),
            annual_rate=Decimal(given["annual_rate"]),
            months=months,
            method=given.get("method", "equal_installment"),
            disbursed=disbursed,
        )

    @staticmethod
    def build_pays(text: str) -> Pays:
        kind, _, days = text.partition(":")
        return Pays(cast(Literal["manual", "on_due_date", "early", "late", "never"], kind),
                    int(days or 0))

    def add_borrower(self, borrower: Borrower, line: int) -> None:
        self.borrowers[borrower.id] = borrower
        self.borrower_lines[borrower.id] = line

    def build_borrowers(self) -> None:
        entries: YamlSequence = self.document["borrowers"]
        taken: dict[str, int] = {}
        self.attempt(self.reserve_personal_data, entries, taken)
        next_index: dict[str, int] = {}
        generated = [0]
        for index in range(len(entries)):
            if self.attempt(self.build_entry, entries, index, taken, next_index,
                            generated) is None:
                entry = entries[index]
                if "count" not in entry:
                    self.failed.add(entry["id"])
                else:
                    self.unknowable = True  # its ids are generated: any could be one

    def reserve_personal_data(self, entries: YamlSequence, taken: dict[str, int]) -> None:
        """Personal data the file gives is reserved first, so defaults never reuse it."""
        named = [index for index, entry in enumerate(entries) if "count" not in entry]
        for index in named:
            for field in ("id_number", "phone"):
                if field in entries[index]:
                    location: Location = ("borrowers", index, field)
                    number = entries[index][field]
                    if field == "id_number" and number in taken:
                        raise self.error(f"'id_number' must differ from every other "
                                         f"borrower's (line {taken[number]} has it too)",
                                         location)
                    taken.setdefault(number, line_of(self.document, location))

    def build_entry(self, entries: YamlSequence, index: int, taken: dict[str, int],
                    next_index: dict[str, int], generated: list[int]) -> bool:
        """One entry of ``borrowers``: a named borrower or a generated block."""
        entry = entries[index]
        where: Location = ("borrowers", index)
        line = entries.item_lines[index]
        loan = self.build_loan((*where, "loan"))
        self.check_timeline(loan, where)
        pays = self.build_pays(entry.get("pays", "manual"))
        if "count" not in entry:
            handle: str = entry["id"]
            if handle in self.borrowers:
                first = self.borrower_lines[handle]
                raise self.error(
                    f"borrower id {handle!r} is already the id of a borrower generated "
                    f"by the block at line {first}; give that block another 'id_prefix'"
                    if handle not in self.id_listing else
                    f"borrower id {handle!r} is used twice (first at line {first})",
                    (*where, "id"))
            default = default_personal_data(handle, self.seed, self.jurisdiction.code,
                                            taken=taken)
            taken.update(dict.fromkeys((default.id_number, default.phone), line))
            self.add_borrower(Borrower(
                handle, entry.get("name", default.name),
                entry.get("id_number", default.id_number),
                entry.get("phone", default.phone), loan, pays), line)
            self.id_listing.append(handle)
            return True
        prefix: str = entry.get("id_prefix", "b")
        first = next_index.get(prefix, 1)
        block = generate_borrowers(
            entry["count"],
            seed=derive_seed(self.seed, f"generated-borrowers:{generated[0]}"),
            jurisdiction=self.jurisdiction.code, loan=loan, pays=pays,
            id_prefix=prefix, start_index=first, taken=taken)
        generated[0] += 1
        next_index[prefix] = first + len(block)
        for borrower in block:
            if borrower.id in self.borrowers:
                raise self.error(
                    f"generated borrower id {borrower.id!r} is already the id of the "
                    f"borrower at line {self.borrower_lines[borrower.id]}; give this "
                    f"block another 'id_prefix'", where)
            self.add_borrower(borrower, line)
            taken[borrower.id_number] = taken[borrower.phone] = line
        self.id_listing.append(f"{block[0].id}…{block[-1].id}")
        return True

    def build_step(self, index: int) -> Step:
        where: Location = ("steps", index)
        step = self.value(where)
        at = self.instant((*where, "at"))
        if not self.start <= at <= self.until:
            raise self.error(f"'at' must be within the run, from {self.start.isoformat()} "
                             f"to {self.until.isoformat()} (got {show_value(step['at'])})",
                             (*where, "at"))
        action: Repay | Fault | Dispute | Check
        if "repay" in step:
            action = self.build_repay((*where, "repay"), at)
        elif "fault" in step:
            action = self.build_fault((*where, "fault"), at)
        elif "dispute" in step:
            action = Dispute(self.known_borrower((*where, "dispute", "borrower")),
                             step["dispute"]["period"])
        else:
            action = Check(self.build_expectations((*where, "check", "bureau")))
        return Step(at=at, action=action, line=line_of(self.document, where))

    def build_repay(self, where: Location, at: datetime) -> Repay:
        given = self.value(where)
        handle = self.known_borrower((*where, "borrower"))
        disbursed = self.borrowers[handle].loan.disbursed
        disbursed_at = datetime.combine(disbursed, time(0), tzinfo=self.tz)
        if at < disbursed_at:
            raise self.error(f"a repayment at {at.isoformat()} comes before {handle}'s loan is "
                             f"disbursed ({disbursed.isoformat()})", (*where, "borrower"))
        months = self.borrowers[handle].loan.months
        if given["installment"] > months:
            raise self.error(f"'installment' must be at most {months}, the number of "
                             f"installments of {handle}'s loan (got {given['installment']})",
                             (*where, "installment"))
        return Repay(
            borrower=handle,
            installment=given["installment"],
            via=given.get("via", "platform"),
            amount=self.money((*where, "amount")) if "amount" in given else None,
            short_by=self.money((*where, "short_by")) if "short_by" in given else None,
        )

    def build_fault(self, where: Location, at: datetime) -> Fault:
        given = self.value(where)
        kind = given["kind"]
        if "for" in given:
            end = self.later(at, self.duration((*where, "for")), (*where, "for"))
        else:
            end = self.instant((*where, "until"))
            if end <= at:
                raise self.error(f"'until' must be after the step's 'at' ({at.isoformat()}) "
                                 f"(got {show_value(given['until'])})", (*where, "until"))
        is_error = kind == "error"
        return Fault(
            kind=kind,
            start=at,
            end=end,
            link=given.get("link"),
            party=given.get("party"),
            by=self.duration((*where, "by")) if "by" in given else None,
            status=given.get("status", 503) if is_error else None,
            rate=Decimal(given.get("rate", 1)) if is_error else None,
            may_not_fire=given.get("may_not_fire", False),
            line=line_of(self.document, where),
        )

    def build_expectations(self, where: Location) -> tuple[BureauExpectation, ...]:
        given = self.value(where)
        if isinstance(given, list):
            return tuple(self.build_expectation((*where, index)) for index in range(len(given)))
        return (self.build_expectation(where),)

    def build_expectation(self, where: Location) -> BureauExpectation:
        given = self.value(where)
        return BureauExpectation(
            borrower=self.known_borrower((*where, "borrower")),
            period=given["period"],
            status=given["status"],
            line=line_of(self.document, where),
        )

    def build_expect(self) -> Expect:
        where: Location = ("expect",)
        given = self.document.get("expect", {})
        invariants = given.get("invariants", INVARIANTS)
        expected = tuple(self.build_expected_violation((*where, "violations", index), invariants)
                         for index in range(len(given.get("violations", ()))))
        seen: dict[str, int] = {}
        for index, item in enumerate(expected):
            if not item.borrowers and not item.installments and item.invariant in seen:
                raise self.error(f"{item.invariant!r} is expected twice without a scope; give "
                                 f"each entry its own 'borrowers' or 'installments' (first at "
                                 f"line {seen[item.invariant]})", (*where, "violations", index))
            seen.setdefault(item.invariant, item.line or 0)
        return Expect(
            invariants=tuple(name for name in INVARIANTS if name in invariants),
            violations=expected,
            bureau=tuple(self.build_expectation((*where, "bureau", index))
                         for index in range(len(given.get("bureau", ())))),
        )

    def build_expected_violation(self, where: Location,
                                 invariants: list[str] | tuple[str, ...]) -> ExpectedViolation:
        """A name (any violation of it) or ``{invariant, borrowers?, installments?, count?}``."""
        given = self.value(where)
        line = line_of(self.document, where)
        if isinstance(given, str):
            given = {"invariant": given}
            name_at: Location = where
        else:
            name_at = (*where, "invariant")
        name = given["invariant"]
        if name not in invariants:
            raise self.error(
                f"'violations' may list only invariants in 'expect.invariants' "
                f"({', '.join(invariants)}) (got {name!r})", name_at)
        borrowers = tuple(self.known_borrower((*where, "borrowers", index))
                          for index in range(len(given.get("borrowers", ()))))
        return ExpectedViolation(invariant=name, borrowers=borrowers,
                                 installments=tuple(given.get("installments", ())),
                                 count=given.get("count"), line=line)
