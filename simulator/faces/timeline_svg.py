"""A timeline as inline SVG for the HTML report: lanes across, marks in columns, in order.

Time runs left to right by *columns*, not to scale: each moment something
happens gets a column (marks at the same minute on different lanes share one),
a quiet stretch folds into one narrow column, and a day starts with a dashed
rule and its date. So a retry an hour after a capture and a correction three
days later are both legible. Fault windows shade the lanes they touch; an
installment's due end is a dotted rule; each violation is a triangle under the
mark of the entry that shows it, with a ring on every piece of its evidence.
Every mark links to its row in the entry table under the drawing
(``#{anchor}-e{seq}``), every triangle to its violation (``#{anchor}-f{i}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from simulator.faces.timeline import Flag, Mark, Quiet, Timeline
from simulator.faces.timeline_words import LANES, moment

__all__ = ["TONE_COLOURS", "render_svg"]

#: the fill of each tone (the report's legend shows them)
TONE_COLOURS: dict[str, str] = {
    "money": "#1a7f37", "ok": "#0969da", "failed": "#cf222e", "batch": "#8250df",
    "text": "#bf8700", "record": "#953800", "fix": "#2da44e", "due": "#57606a",
    "fault": "#d4a72c", "check": "#6e7781", "other": "#afb8c1",
}

_LEFT = 76
_TOP = 30
_LANE = 26
_FLAGS = 26
_BOTTOM = 40
_COLUMN = 18
_QUIET = 30
_RIGHT = 12


@dataclass
class _Column:
    x: float
    width: float
    at: datetime
    until: datetime
    marks: list[Mark] = field(default_factory=list)
    quiet: Quiet | None = None


def _columns(timeline: Timeline) -> list[_Column]:
    columns: list[_Column] = []
    x = float(_LEFT)
    for item in timeline.items:
        if isinstance(item, Quiet):
            columns.append(_Column(x, _QUIET, item.start, item.end, quiet=item))
            x += _QUIET
            continue
        last = columns[-1] if columns else None
        same_minute = last is not None and last.quiet is None and \
            last.at.replace(second=0, microsecond=0) == item.at.replace(second=0, microsecond=0)
        if last is not None and same_minute and all(m.lane != item.lane for m in last.marks):
            last.marks.append(item)
            last.until = max(last.until, item.until)
            continue
        columns.append(_Column(x, _COLUMN, item.at, item.until, [item]))
        x += _COLUMN
    return columns


def _lane_y(lane: str) -> float:
    return _TOP + LANES.index(lane if lane in LANES else "world") * _LANE + _LANE / 2


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _mark_svg(mark: Mark, x: float, anchor: str, timeline: Timeline) -> str:
    y = _lane_y(mark.lane)
    colour = TONE_COLOURS.get(mark.tone, TONE_COLOURS["other"])
    when = f"{moment(mark.at, timeline.zone)} {mark.at.strftime('%z')}"
    repeats = f" ×{mark.count}, the last {moment(mark.until, timeline.zone)}" \
        if mark.count > 1 else ""
    seq = f" #{mark.seqs[0]}" if mark.seqs else ""
    tip = f"{when} · {mark.lane} · {mark.text}{repeats}{seq}"
    radius = 5.5 if mark.own else 4
    parts = [f'<g class="mark tone-{mark.tone}{" own" if mark.own else ""}" '
             f'data-seq="{mark.seqs[0] if mark.seqs else ""}" data-lane="{mark.lane}">']
    if mark.flags:
        parts.append(f'<circle class="evidence" cx="{x:.1f}" cy="{y:.1f}" r="9"/>')
    if mark.kind == "due":
        parts.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                     f'fill="#fff" stroke="{colour}" stroke-width="2"/>')
    else:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}"/>')
    if mark.count > 1:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius + 2.5}" fill="none" '
                     f'stroke="{colour}" stroke-width="1"/>'
                     f'<text class="count" x="{x:.1f}" y="{y - 8:.1f}">{mark.count}</text>')
    parts.append(_title(tip))
    parts.append("</g>")
    body = "".join(parts)
    return f'<a href="#{anchor}-e{mark.seqs[0]}">{body}</a>' if mark.seqs else body


def _flag_svg(index: int, flag: Flag, x: float, anchor: str, bottom: float) -> str:
    y = bottom + _FLAGS / 2
    lane_y = _lane_y(flag.lane)
    kind = "expected" if flag.expected else "unexpected"
    label = f"{flag.invariant} (expected)" if flag.expected else flag.invariant
    return (f'<a href="#{anchor}-f{index}"><g class="flag {kind}" data-invariant='
            f'"{escape(flag.invariant)}"><line x1="{x:.1f}" y1="{lane_y + 9:.1f}" x2="{x:.1f}" '
            f'y2="{y - 6:.1f}"/><path d="M{x - 6:.1f},{y + 5:.1f} L{x:.1f},{y - 6:.1f} '
            f'L{x + 6:.1f},{y + 5:.1f} Z"/>{_title(f"{label}: {flag.message}")}</g></a>')


def render_svg(timeline: Timeline, *, anchor: str) -> str:
    """The timeline as one ``<svg>`` element (no scripts, no external references)."""
    columns = _columns(timeline)
    width = (columns[-1].x + columns[-1].width if columns else _LEFT) + _RIGHT
    lanes_bottom = _TOP + len(LANES) * _LANE
    height = lanes_bottom + _FLAGS + _BOTTOM
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
           f'height="{height}" viewBox="0 0 {width:.0f} {height}" role="img" '
           f'data-borrower="{escape(timeline.borrower)}" aria-label="timeline of '
           f'{escape(timeline.borrower)}">']
    for number, lane in enumerate(LANES):
        y = _TOP + number * _LANE
        out.append(f'<rect class="lane{" odd" if number % 2 else ""}" x="{_LEFT}" y="{y}" '
                   f'width="{width - _LEFT - _RIGHT:.0f}" height="{_LANE}"/>'
                   f'<text class="lane-name" x="{_LEFT - 6}" y="{y + _LANE / 2 + 4}">'
                   f'{lane}</text>')
    out.append(f'<text class="lane-name" x="{_LEFT - 6}" y="{lanes_bottom + _FLAGS / 2 + 4}">'
               "violations</text>")
    for window in timeline.windows:
        inside = [c for c in columns if c.at < window.end and c.until >= window.start]
        if not inside:
            continue
        left, right = inside[0].x, inside[-1].x + inside[-1].width
        tip = (f"{window.text}: {moment(window.start, timeline.zone)} → "
               f"{moment(window.end, timeline.zone)}")
        for lane in dict.fromkeys(window.lanes):
            y = _TOP + LANES.index(lane) * _LANE
            out.append(f'<rect class="window" x="{left:.1f}" y="{y + 1}" '
                       f'width="{right - left:.1f}" height="{_LANE - 2}">{_title(tip)}</rect>')
    last_label = -1e9
    day = None
    for column in columns:
        centre = column.x + column.width / 2
        if column.quiet is not None:
            quiet = column.quiet
            tip = (f"{quiet.days} quiet day(s), {moment(quiet.start, timeline.zone)} → "
                   f"{moment(quiet.end, timeline.zone)}: "
                   + ", ".join(f"{n} {kind}" for kind, n in quiet.counts))
            out.append(f'<g class="quiet"><rect x="{column.x + 3:.1f}" y="{_TOP}" '
                       f'width="{column.width - 6:.1f}" height="{lanes_bottom - _TOP}"/>'
                       f'<text transform="translate({centre + 3:.1f},{lanes_bottom - 6}) '
                       f'rotate(-90)">{quiet.days} quiet day(s)</text>{_title(tip)}</g>')
            day = quiet.end.date()
            continue
        if column.at.date() != day:
            day = column.at.date()
            out.append(f'<line class="day" x1="{column.x:.1f}" y1="{_TOP - 12}" '
                       f'x2="{column.x:.1f}" y2="{lanes_bottom}"/>')
            if column.x - last_label >= 40:
                out.append(f'<text class="date" x="{column.x + 2:.1f}" y="{_TOP - 16}">'
                           f'{day.strftime("%m-%d")}</text>')
                last_label = column.x
        for mark in column.marks:
            if mark.kind == "due":
                out.append(f'<line class="due" x1="{centre:.1f}" y1="{_TOP}" '
                           f'x2="{centre:.1f}" y2="{lanes_bottom}"/>')
        out.append(f'<text class="time" transform="translate({centre + 3:.1f},'
                   f'{height - 4}) rotate(-90)">{column.at.strftime("%H:%M")}</text>')
        out.extend(_mark_svg(mark, centre, anchor, timeline) for mark in column.marks)
    where = {seq: column.x + column.width / 2 for column in columns for mark in column.marks
             for seq in mark.seqs}
    for index, flag in enumerate(timeline.flags):
        x = where.get(flag.anchor) if flag.anchor is not None else None
        if x is None:
            x = next((c.x + c.width / 2 for c in columns if c.at >= flag.at),
                     columns[-1].x if columns else _LEFT)
        out.append(_flag_svg(index, flag, x, anchor, lanes_bottom))
    out.append("</svg>")
    return "".join(out)
