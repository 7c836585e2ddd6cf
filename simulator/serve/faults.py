"""Faults planted in a served world, from now, through the sandbox contract.

A :class:`FaultBoard` belongs to one world (a reset makes a new one): it plants
a fault as a scenario's ``fault:`` step would — on a link, or a crash of a
party — ends it when its window closes, and removes it early on request (a
crashed party then restarts). With a state folder every change is saved before
it is acknowledged, and :meth:`FaultBoard.restore` plants again what was still
acting when the server stopped.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from simulator.core.durations import format_duration, parse_duration
from simulator.core.topology import PARTIES
from simulator.engine.links import ActiveFault, Body, Response
from simulator.serve.http import problem_body
from simulator.world.world import World

__all__ = ["FaultBoard", "FaultStore", "Planted", "duration", "instant", "problem"]


class FaultStore(Protocol):
    """Where a board saves its faults (a served world's state folder)."""

    def save_fault(self, fault_id: str, body: dict[str, Any]) -> None: ...

    def faults(self) -> list[dict[str, Any]]: ...


@dataclass
class Planted:
    """A fault planted through the sandbox."""

    fault_id: str
    kind: str
    start: datetime
    end: datetime
    link: str | None = None
    party: str | None = None
    by: timedelta | None = None
    by_text: str | None = None  # ``by`` as the request wrote it
    status: int | None = None
    rate: Decimal | None = None
    active: ActiveFault | None = None  # what the link holds (link faults)
    over: bool = False  # no longer acting: ended or removed
    removed: bool = False

    def as_body(self) -> Body:
        body: Body = {"fault_id": self.fault_id, "kind": self.kind,
                      "start": self.start.astimezone(UTC).isoformat(),
                      "end": self.end.astimezone(UTC).isoformat()}
        if self.link is not None:
            body["link"] = self.link
        if self.party is not None:
            body["party"] = self.party
        if self.by is not None:
            body["by"] = self.by_text or format_duration(self.by)
        if self.status is not None:
            body["status"] = self.status
        if self.rate is not None:
            body["rate"] = int(self.rate) if self.rate == self.rate.to_integral() else \
                float(self.rate)
        return body

    def record(self) -> dict[str, Any]:
        """Everything about it, as saved in a state folder."""
        return {"fault_id": self.fault_id, "kind": self.kind, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "link": self.link, "party": self.party,
                "by": None if self.by is None else self.by.total_seconds(),
                "by_text": self.by_text, "status": self.status,
                "rate": None if self.rate is None else str(self.rate), "over": self.over,
                "removed": self.removed}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Planted:
        return cls(record["fault_id"], record["kind"], datetime.fromisoformat(record["start"]),
                   datetime.fromisoformat(record["end"]), record["link"], record["party"],
                   None if record["by"] is None else timedelta(seconds=record["by"]),
                   record["by_text"], record["status"],
                   None if record["rate"] is None else Decimal(record["rate"]),
                   over=record["over"], removed=record["removed"])


_ZERO = re.compile(r"(0+[dhms])+")


def duration(value: object, what: str) -> timedelta:
    """A duration as scenarios write it; unlike a scenario's, it may be zero (``0m``)."""
    if isinstance(value, str) and _ZERO.fullmatch(value):
        return timedelta(0)
    return parse_duration(value, what=what)


def problem(status: int, title: str, detail: str = "") -> Response:
    return Response(status, problem_body(status, title, detail))


def instant(value: str) -> datetime:
    """An RFC 3339 instant from a request, or ValueError."""
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("an instant needs an offset")
    return instant.astimezone(UTC)


class FaultBoard:
    """The faults planted in one world through the sandbox."""

    def __init__(self, world: World, last_instant: datetime,
                 store: FaultStore | None = None) -> None:
        self._world = world
        self._last_instant = last_instant
        self._store = store
        self._planted: dict[str, Planted] = {}
        self._numbers = itertools.count(1)

    def _save(self, planted: Planted) -> None:
        if self._store is not None:
            self._store.save_fault(planted.fault_id, planted.record())

    def restore(self) -> None:
        """Plant again every saved fault still acting at the world's (resumed) now."""
        if self._store is None:
            return
        world = self._world
        now = world.clock.now
        last = 0
        for record in self._store.faults():
            planted = Planted.from_record(record)
            self._planted[planted.fault_id] = planted
            last = max(last, int(planted.fault_id.lstrip("F")))
            if planted.over or planted.end <= now:
                planted.over = True
                continue
            if planted.party is not None:
                world.parties[planted.party].crash()
            else:
                assert planted.link is not None
                planted.active = ActiveFault(
                    kind=planted.kind, start=planted.start, end=planted.end, by=planted.by,
                    status=planted.status or 503, rate=planted.rate or Decimal(1))
                world.links[planted.link].add_fault(planted.active)
            world.scheduler.at(planted.end, self._over, planted.fault_id)
        self._numbers = itertools.count(last + 1)

    def listed(self) -> list[Planted]:
        """Faults planted and neither removed nor over, in the order they were added."""
        now = self._world.clock.now
        return [f for f in self._planted.values() if not f.over and f.end > now]

    def add(self, body: Body) -> Response:
        """Plant a fault from now: ``{kind, link | party, for | until, by?, status?, rate?}``."""
        world = self._world
        now = world.clock.now
        kind = str(body.get("kind"))
        try:
            if "for" in body:
                end = now + duration(body["for"], "for")
            elif "until" in body:
                end = instant(str(body["until"]))
            else:
                return problem(422, "Invalid request", "add_fault: give one of for or until")
            by = duration(body["by"], "by") if "by" in body else None
        except (ValueError, OverflowError) as error:
            return problem(422, "Invalid request", f"add_fault: {error}")
        if end <= now:
            return problem(422, "Fault already over",
                            f"until must be after now, {now.isoformat()}")
        if end > self._last_instant:
            return problem(422, "Beyond the horizon",
                            f"this sandbox's clock stops at {self._last_instant.isoformat()}")
        fault_id = f"F{next(self._numbers):06d}"
        planted = Planted(fault_id, kind, now, end)
        detail: dict[str, Any] = {"kind": kind, "until": end, "fault_id": fault_id}
        if kind == "crash":
            party = str(body.get("party"))
            if party not in world.parties:
                return problem(422, "Invalid request", "add_fault: party must be one of "
                                                        + ", ".join(PARTIES))
            planted.party = detail["party"] = party
            self._planted[fault_id] = planted
            self._save(planted)
            world.journal.append("fault.started", "world", **detail)
            world.parties[party].crash()
            world.scheduler.at(end, self._over, fault_id)
            return Response(201, planted.as_body())
        link = str(body.get("link"))
        if link not in world.links:
            return problem(422, "Invalid request",
                            "add_fault: link must be one of " + ", ".join(world.links))
        status = body.get("status", 503) if kind == "error" else None
        rate = body.get("rate", 1) if kind == "error" else None
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            return problem(422, "Invalid request", "add_fault: status must be 400–599")
        try:
            rate_value = Decimal(str(rate)) if rate is not None else None
        except ArithmeticError:
            rate_value = None
        if rate is not None and (rate_value is None or not Decimal(0) < rate_value <= 1):
            return problem(422, "Invalid request", "add_fault: rate must be above 0, at most 1")
        if (kind == "delay") != (by is not None):
            return problem(422, "Invalid request", "add_fault: by goes with kind delay, only")
        planted.link = detail["link"] = link
        planted.by, planted.status, planted.rate = by, status, rate_value
        planted.by_text = str(body["by"]) if by is not None else None
        planted.active = ActiveFault(kind=kind, start=now, end=end, by=by,
                                     status=status or 503, rate=rate_value or Decimal(1))
        world.links[link].add_fault(planted.active)
        self._planted[fault_id] = planted
        self._save(planted)
        world.journal.append("fault.started", "world", **detail)
        world.scheduler.at(end, self._over, fault_id)
        return Response(201, planted.as_body())

    def _over(self, fault_id: str) -> None:
        """A planted fault's window closed (a scheduler event)."""
        planted = self._planted.get(fault_id)
        if planted is None or planted.over:
            return
        self._end(planted, "fault.ended")

    def _end(self, planted: Planted, kind: str) -> None:
        """The fault stops acting: its window closed (``fault.ended``) or it was removed."""
        world = self._world
        planted.over = True
        planted.removed = kind == "fault.removed"
        self._save(planted)
        detail: dict[str, Any] = {"kind": planted.kind, "fault_id": planted.fault_id}
        if planted.party is not None:
            detail["party"] = planted.party
            world.journal.append(kind, "world", **detail)
            world.parties[planted.party].restart()
            return
        assert planted.link is not None and planted.active is not None
        detail["link"] = planted.link
        world.journal.append(kind, "world", **detail)
        link = world.links[planted.link]
        if kind == "fault.removed":  # taken off early; one that ended by itself stays inert
            link.remove_fault(planted.active)

    def remove(self, fault_id: str) -> Response:
        """Remove a planted fault now; a crashed party restarts."""
        planted = self._planted.get(fault_id)
        if planted is None or planted.removed:
            return problem(404, "Unknown fault", f"no fault {fault_id}")
        if planted.over or planted.end <= self._world.clock.now:
            planted.removed = True  # over already: removing it changes nothing
            self._save(planted)
            return Response(204, {})
        self._end(planted, "fault.removed")
        return Response(204, {})
