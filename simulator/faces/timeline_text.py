"""A timeline as terminal text (``lendsim explain``): one line per mark, 80 columns.

Each line is a local time, a lane, a gutter and what happened, with the journal
entry's number at the right edge; a day starts with its date and UTC offset.
In the gutter ``┃`` means a fault window covers that lane then and ``!`` that
the entry is evidence of a violation; a violation itself is a ``▲`` line right
under the entry that shows it. Long lines wrap under their text, never cut. On a day
its offset changes (daylight saving time) each line also shows its offset.
"""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta, tzinfo

from rich.text import Text

from simulator.faces.timeline import Flag, Mark, Quiet, Timeline, Window
from simulator.faces.timeline_words import moment

__all__ = ["KEY", "offset_of", "render_text"]

#: what the gutter's signs mean (printed once above the timelines)
KEY = "┃ a fault window covers the lane   ! evidence of a violation   ▲ a violation"

_TIME = 7  # "  21:00"
_LANE = 9  # "borrower "
_GUTTER = 3
_SEQ = 8  # " #123456"
_LANE_STYLE = {"borrower": "cyan", "platform": "blue", "bank": "magenta", "bureau": "yellow",
               "sms": "green", "world": "dim"}


def offset_of(day: date, zone: tzinfo) -> str:
    """The UTC offset of a local day in ``zone`` (``+08:00``; ``-05:00→-04:00`` on a day
    daylight saving time starts or ends)."""
    first = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    last = (first + timedelta(hours=23, minutes=59)).astimezone(zone)
    begins, ends = first.strftime("%z"), last.strftime("%z")

    def colon(offset: str) -> str:
        return f"{offset[:3]}:{offset[3:]}"

    return colon(begins) if begins == ends else f"{colon(begins)}→{colon(ends)}"


def _covered(mark: Mark, windows: tuple[Window, ...]) -> bool:
    return any(w.start <= mark.at < w.end and mark.lane in w.lanes for w in windows)


def _lines(prefix: str, text: str, seq: str, width: int) -> list[tuple[str, str]]:
    """``prefix`` + ``text`` wrapped to ``width`` with ``seq`` at the right of the first line;
    returns (prefix part, rest) pairs so the caller can colour the prefix."""
    room = width - len(prefix) - _SEQ
    wrapped = textwrap.wrap(text, room, break_long_words=True, break_on_hyphens=False) or [""]
    first = f"{wrapped[0]:<{room}}{seq:>{_SEQ}}" if seq else wrapped[0]
    out = [(prefix, first.rstrip())]
    indent = " " * len(prefix)
    out.extend((indent, line) for line in wrapped[1:])
    return out


def _mark_lines(mark: Mark, timeline: Timeline, width: int, *, offset: bool) -> list[Text]:
    gutter = ("┃" if _covered(mark, timeline.windows) else " ") + ("!" if mark.flags else " ")
    when = mark.at.strftime("%H:%M")
    text = mark.text
    if offset:  # a day whose offset changes: its 01:00 may happen twice
        zone = mark.at.strftime("%z")
        text = f"[{zone[:3]}:{zone[3:]}] {text}"
    if mark.count > 1:
        text += f" ×{mark.count}, the last {moment(mark.until, timeline.zone)}"
    seq = f"#{mark.seqs[0]}" if mark.seqs else ""
    out = []
    for index, (prefix, rest) in enumerate(_lines(
            f"  {when} {mark.lane:<{_LANE - 1}} {gutter} ", text, seq, width)):
        line = Text(prefix)
        if index == 0:
            line.stylize("dim", 0, _TIME)
            line.stylize(_LANE_STYLE.get(mark.lane, ""), _TIME + 1, _TIME + _LANE)
            line.stylize("yellow", _TIME + _LANE, _TIME + _LANE + 1)
            line.stylize("bold red", _TIME + _LANE + 1, _TIME + _LANE + 2)
        line.append(rest, style="red" if mark.flags and mark.tone != "fix" else "")
        out.append(line)
    return out


def _flag_lines(flag: Flag, width: int) -> list[Text]:
    label = f"{flag.invariant} (expected)" if flag.expected else flag.invariant
    cause = f" [cause: {flag.cause}]" if flag.cause else ""
    indent = " " * (_TIME + _LANE + 1)
    body = textwrap.wrap(f"▲ {label}: {flag.message}{cause}", width - len(indent),
                         subsequent_indent="  ", break_on_hyphens=False)
    if flag.evidence:
        body += textwrap.wrap("  evidence " + " ".join(f"#{s}" for s in flag.evidence),
                              width - len(indent), subsequent_indent="  ")
    style = "yellow" if flag.expected else "bold red"
    return [Text(indent + line, style=style) for line in body]


def _quiet_lines(quiet: Quiet, timeline: Timeline, width: int) -> list[Text]:
    zone = timeline.zone
    span = f"{moment(quiet.start, zone)[:5]} → {moment(quiet.end, zone)[:5]}"
    what = ", ".join(f"{n} {kind}" for kind, n in quiet.counts)
    text = f"{quiet.days} quiet day(s), {quiet.total} shared entries: {what}"
    return [Text(prefix + rest, style="dim")
            for prefix, rest in _lines(f"  ⋯ {span} ", text, "", width)]


def render_text(timeline: Timeline, *, width: int = 80) -> list[Text]:
    """The timeline as lines of text (styled; a console without colour prints them plain)."""
    zone = timeline.zone
    head = f"{timeline.borrower} ({timeline.subject})" if timeline.subject else \
        timeline.borrower
    lines = [Text(f"{head} in {timeline.scenario}", style="bold"),
             Text(f"times in {zone}; the run {moment(timeline.start, zone)} → "
                  f"{moment(timeline.end, zone)}", style="dim")]
    flags_at: dict[int | None, list[Flag]] = {}
    for flag in timeline.flags:
        flags_at.setdefault(flag.anchor, []).append(flag)
    day: date | None = None
    offsets = ""
    for item in timeline.items:
        if isinstance(item, Quiet):
            lines.extend(_quiet_lines(item, timeline, width))
            day = None
            continue
        if item.at.date() != day:
            day = item.at.date()
            offsets = offset_of(day, zone)
            lines.append(Text(f" {day.isoformat()} {day.strftime('%a')} {offsets}",
                              style="bold"))
        lines.extend(_mark_lines(item, timeline, width, offset="→" in offsets))
        for seq in item.seqs:
            for flag in flags_at.pop(seq, []):
                lines.extend(_flag_lines(flag, width))
    for flag in (f for found in flags_at.values() for f in found):
        lines.append(Text(f" at {moment(flag.at, zone)}:", style="bold"))
        lines.extend(_flag_lines(flag, width))
    return lines
