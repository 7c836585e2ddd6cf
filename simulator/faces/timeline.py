"""Per-borrower timelines: what happened to one borrower, lane by lane, read from the journal.

The journal is the single record of a run; a timeline is one borrower's view of
it (README, "Seeing what happened"). Lanes — borrower, platform, bank, bureau,
SMS, and ``world`` for anything else — carry *marks* in the run's zone:
repayments, forwards and their retries, acknowledgements, day-end batches with
their gate decision, texts, bureau records and corrections, and each
installment's due end. Fault windows are shaded across the lanes they touch;
each violation is a *flag* drawn where it happened, on the entry that proves it,
with the entries of its evidence.

Which entries are the borrower's is read generically, so a kind added to the
journal later still shows: an entry is the borrower's when one of its strings
is one of the borrower's keys — the handle, the loan id, and any ``…_id`` or
``ref`` value learned from an earlier entry of theirs (a payment id, a dispute
id). An entry naming no borrower at all (a day-end batch, a file, a fault) is
*shared*: it is shown on the days something happens to the borrower, and folded
into a *quiet* stretch otherwise. Repeats in a row (a forward retried hourly
through an outage) become one mark with a count.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from simulator.checks.facts import Violation
from simulator.core.instants import from_us
from simulator.core.topology import LINKS
from simulator.engine.journal import Entry, Journal, Row
from simulator.faces.timeline_words import LANES, lane_of, tone_of, words_of

__all__ = ["Due", "Flag", "Mark", "Quiet", "Timeline", "Window", "read_timelines"]

#: strings in a payload literal (``'L-alice'``)
_QUOTED = re.compile(r"'([^'\\]*)'")
#: identifier fields whose values become keys of the borrower an entry is about
_ID_FIELD = re.compile(r"'(\w+_id|ref|account)': '([^'\\]*)'")
#: values never learned as a borrower's key: dates and instants name days, not borrowers
_NOT_A_KEY = re.compile(r"\d{4}-\d{2}(?:-\d{2})?(?:T.*)?")


#: how far apart two identical marks may be and still be one run of repeats
_REPEAT_GAP = timedelta(days=2)
#: party, lane and link names: words every entry may carry, never a borrower's key
_NAMES = frozenset((*LANES, *LINKS))


@dataclass(frozen=True, slots=True)
class Mark:
    """One entry on a lane — or a run of identical ones in a row (``seqs`` holds them all)."""

    lane: str
    kind: str
    at: datetime
    until: datetime
    seqs: tuple[int, ...]
    text: str
    tone: str
    own: bool
    #: indexes into :attr:`Timeline.flags` of the violations this mark is evidence of
    flags: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        return max(len(self.seqs), 1)


@dataclass(frozen=True, slots=True)
class Quiet:
    """Shared entries on days nothing happened to the borrower, folded: how many of each."""

    start: datetime
    end: datetime
    counts: tuple[tuple[str, int], ...]

    @property
    def days(self) -> int:
        return (self.end.date() - self.start.date()).days + 1

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


@dataclass(frozen=True, slots=True)
class Window:
    """A fault, from when it started to when it ended (or the end of the run)."""

    kind: str
    where: str
    lanes: tuple[str, ...]
    start: datetime
    end: datetime
    seqs: tuple[int, ...]

    @property
    def text(self) -> str:
        return f"{self.kind} on {self.where}"


@dataclass(frozen=True, slots=True)
class Flag:
    """A violation, anchored on the entry that shows it (else on the borrower's lane)."""

    invariant: str
    message: str
    installment: int | None
    cause: str | None
    expected: bool
    at: datetime
    lane: str
    anchor: int | None
    evidence: tuple[int, ...]
    instants: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Due:
    """An installment's contractual due date and due end (late from then on)."""

    number: int
    due_date: date
    due_end: datetime


@dataclass(frozen=True)
class Timeline:
    """One borrower's run, in the order things happened."""

    scenario: str
    borrower: str
    subject: str
    zone: tzinfo
    start: datetime
    end: datetime
    items: tuple[Mark | Quiet, ...]
    windows: tuple[Window, ...]
    flags: tuple[Flag, ...]

    @property
    def marks(self) -> list[Mark]:
        return [item for item in self.items if isinstance(item, Mark)]

    def mark_of(self, seq: int) -> Mark | None:
        """The mark that shows journal entry ``seq``, if it is drawn."""
        return next((m for m in self.marks if seq in m.seqs), None)


@dataclass
class _Sorted:
    """The journal split by borrower (only the borrowers asked for are kept)."""

    own: dict[str, list[Row]] = field(default_factory=dict)
    shared: list[Row] = field(default_factory=list)


def _sort_rows(rows: Iterable[Row], keys: Mapping[str, str], wanted: set[str],
               evidence: set[int]) -> _Sorted:
    """One pass over the journal: whose is each entry (see the module docstring)."""
    owners = dict(keys)
    found = _Sorted(own={borrower: [] for borrower in wanted})
    for row in rows:
        payload = row[4]
        named = {owners[t] for t in _QUOTED.findall(payload) if t in owners}
        if not named:
            found.shared.append(row)
            continue
        if len(named) == 1:
            (owner,) = named
            for _, value in _ID_FIELD.findall(payload):
                if not _NOT_A_KEY.fullmatch(value) and value not in _NAMES:
                    owners.setdefault(value, owner)
        for borrower in named & wanted:
            found.own[borrower].append(row)
        if row[0] in evidence and not named & wanted:
            found.shared.append(row)  # evidence about someone else: shown where it happened
    return found


def _windows(shared: Sequence[Entry], end: datetime) -> tuple[Window, ...]:
    """Fault windows from the journal's ``fault.started`` / ``fault.ended`` entries."""
    windows: list[Window] = []
    open_: dict[tuple[str, str, str], tuple[Entry, datetime]] = {}
    for entry in shared:
        if not entry.kind.startswith("fault."):
            continue
        data = entry.data
        where = str(data.get("link") or data.get("party") or "world")
        key = (str(data.get("kind")), where, str(data.get("until")))
        if entry.kind == "fault.started":
            until = data.get("until")
            planned = datetime.fromisoformat(until) if isinstance(until, str) else end
            open_[key] = (entry, planned)
        elif key in open_:
            started, _ = open_.pop(key)
            windows.append(_window(key, where, started, entry.at, (started.seq, entry.seq)))
    for key, (started, planned) in open_.items():
        windows.append(_window(key, key[1], started, min(planned, end), (started.seq,)))
    return tuple(sorted(windows, key=lambda w: (w.start, w.where)))


def _window(key: tuple[str, str, str], where: str, started: Entry, end: datetime,
            seqs: tuple[int, ...]) -> Window:
    ends = LINKS.get(where)
    lanes = (ends.caller, ends.target) if ends is not None else (where,)
    return Window(key[0], where, tuple(lane if lane in LANES else "world" for lane in lanes),
                  started.at, end, seqs)


def _anchor(violation: Violation, entries: Mapping[int, Entry]
            ) -> tuple[datetime | None, str, int | None]:
    """Where a violation happened: its first piece of evidence, else its earliest instant."""
    for seq in violation.evidence:
        entry = entries.get(seq)
        if entry is not None:
            return entry.at, lane_of(entry), seq
    instants = sorted(datetime.fromisoformat(v) for v in violation.instants.values() if v)
    return (instants[0] if instants else None), "borrower", None


def _merge(marks: list[Mark], busy: set[date] | None = None) -> list[Mark]:
    """Repeats become one mark with a count: the same words on the same lane, each within
    :data:`_REPEAT_GAP` of the one before, and nothing else said of the same subject (the
    call or the file) in between — so a forward refused hourly through an outage is one
    mark, and its eventual acknowledgement another. Given the ``busy`` days, a run never
    mixes marks of busy and quiet days (the quiet ones are folded away)."""
    last: dict[tuple[str, bool, str, str, bool], int] = {}
    runs: list[list[Mark]] = []
    for mark in marks:
        shown = busy is None or mark.at.date() in busy
        key = (mark.lane, mark.own, mark.kind, mark.text.partition(" → ")[0], shown)
        index = last.get(key)
        if index is not None and mark.seqs:
            run = runs[index]
            if run[0].text == mark.text and mark.at - run[-1].until <= _REPEAT_GAP:
                run.append(mark)
                continue
        last[key] = len(runs)
        runs.append([mark])
    return [run[0] if len(run) == 1 else replace(
        run[0], until=run[-1].until, seqs=tuple(seq for m in run for seq in m.seqs),
        flags=tuple(sorted({flag for m in run for flag in m.flags}))) for run in runs]


def _fold(marks: list[Mark], busy: set[date], zone: tzinfo) -> list[Mark | Quiet]:
    """Shared marks on days the borrower has nothing going on fold into quiet stretches."""
    items: list[Mark | Quiet] = []
    folded: list[Mark] = []

    def flush() -> None:
        if folded:
            counts: dict[str, int] = {}
            for mark in folded:
                counts[mark.kind] = counts.get(mark.kind, 0) + mark.count
            items.append(Quiet(folded[0].at, folded[-1].until, tuple(counts.items())))
            folded.clear()

    for mark in marks:
        if mark.own or mark.flags or mark.at.astimezone(zone).date() in busy:
            flush()
            items.append(mark)
        else:
            folded.append(mark)
    flush()
    return items


def _busy_days(marks: Iterable[Mark], windows: Iterable[Window], flags: Iterable[Flag],
               zone: tzinfo) -> set[date]:
    """The local days something happens to the borrower (a run of repeats: every day of it)."""
    days: set[date] = set()

    def span(first: datetime, last: datetime) -> None:
        day, final = first.astimezone(zone).date(), last.astimezone(zone).date()
        days.add(day)
        while day < final:
            day = date.fromordinal(day.toordinal() + 1)
            days.add(day)

    for mark in marks:
        if mark.own:
            span(mark.at, mark.until)
    for window in windows:
        days.add(window.start.astimezone(zone).date())
        days.add(window.end.astimezone(zone).date())
    for flag in flags:
        days.add(flag.at.astimezone(zone).date())
    return days


def read_timelines(journal: Journal, *, scenario: str, borrowers: Sequence[str],
                   keys: Mapping[str, str], subjects: Mapping[str, str],
                   dues: Mapping[str, Sequence[Due]],
                   violations: Mapping[str, Sequence[Violation]], expected: Iterable[str],
                   zone: tzinfo, start: datetime, end: datetime) -> dict[str, Timeline]:
    """The timelines of ``borrowers``, read from a finished run's ``journal`` in one pass.

    ``keys`` maps every borrower's handle and loan id (all borrowers, not only the ones
    drawn: an entry naming another borrower is theirs, not shared) to the handle;
    ``violations`` are the run's, by invariant (``expected`` names the ones the scenario
    declares); every instant is shown in ``zone``.
    """
    wanted = set(borrowers)
    mine = {b: [v for found in violations.values() for v in found if v.borrower == b]
            for b in borrowers}
    evidence = {seq for found in mine.values() for v in found for seq in v.evidence}
    rows = _sort_rows(journal.rows(), keys, wanted, evidence)
    decode = _Decoder()
    shared = [decode(row) for row in rows.shared]
    common = Common(tuple(shared), tuple(_mark(e, zone, False, ()) for e in shared),
                    _windows(shared, end))
    expected = set(expected)
    return {
        borrower: _timeline(
            scenario, borrower, subjects.get(borrower, ""),
            [decode(row) for row in rows.own[borrower]], common,
            dues.get(borrower, ()), mine[borrower], expected, zone, start, end)
        for borrower in borrowers
    }


class _Decoder:
    """Decodes rows, parsing each distinct payload once (retries repeat theirs)."""

    def __init__(self) -> None:
        self._fields: dict[str, dict[str, Any]] = {}

    def __call__(self, row: Row) -> Entry:
        seq, at_us, kind, party, payload = row
        fields = self._fields.get(payload)
        if fields is None:
            fields = self._fields[payload] = ast.literal_eval(payload)
        return Entry(seq, from_us(at_us), kind, party, fields)


@dataclass(frozen=True)
class Common:
    """What every timeline of a run shares: the shared entries, their marks, the faults."""

    entries: tuple[Entry, ...]
    marks: tuple[Mark, ...]
    windows: tuple[Window, ...]


def _timeline(scenario: str, borrower: str, subject: str, own: list[Entry], common: Common,
              dues: Sequence[Due], violations: list[Violation], expected: set[str],
              zone: tzinfo, start: datetime, end: datetime) -> Timeline:
    entries = {e.seq: e for e in own}
    entries.update((e.seq, e) for e in common.entries)
    flags = []
    for violation in violations:
        at, lane, anchor = _anchor(violation, entries)
        flags.append(Flag(
            violation.invariant, violation.message, violation.installment, violation.cause,
            violation.invariant in expected, (at or end).astimezone(zone), lane, anchor,
            tuple(seq for seq in violation.evidence if seq in entries),
            tuple(violation.instants.items())))
    flagged: dict[int, list[int]] = {}
    for index, flag in enumerate(flags):
        for seq in flag.evidence:
            flagged.setdefault(seq, []).append(index)
    mine = [_mark(entry, zone, True, tuple(flagged.get(entry.seq, ()))) for entry in own]
    mine.extend(
        Mark("borrower", "due", due.due_end.astimezone(zone), due.due_end.astimezone(zone), (),
             f"installment {due.number} due {due.due_date.isoformat()}: late from here",
             "due", True)
        for due in dues if start <= due.due_end <= end)
    mine = _merge(sorted(mine, key=_order))
    busy = _busy_days(mine, common.windows, flags, zone)
    context = _merge([replace(mark, flags=tuple(flagged[mark.seqs[0]]))
                      if mark.seqs[0] in flagged else mark for mark in common.marks], busy)
    marks = sorted([*mine, *context], key=_order)
    return Timeline(scenario, borrower, subject, zone, start.astimezone(zone),
                    end.astimezone(zone), tuple(_fold(marks, busy, zone)),
                    tuple(_zoned(w, zone) for w in common.windows), tuple(flags))


def _order(mark: Mark) -> tuple[datetime, int]:
    return mark.at, mark.seqs[0] if mark.seqs else 0


def _mark(entry: Entry, zone: tzinfo, own: bool, flags: tuple[int, ...]) -> Mark:
    at = entry.at.astimezone(zone)
    return Mark(lane_of(entry), entry.kind, at, at, (entry.seq,), words_of(entry, zone),
                tone_of(entry), own, flags)


def _zoned(window: Window, zone: tzinfo) -> Window:
    return Window(window.kind, window.where, window.lanes, window.start.astimezone(zone),
                  window.end.astimezone(zone), window.seqs)
