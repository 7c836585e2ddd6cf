"""The HTML report (``lendsim run --html``): one self-contained page, a CI artifact read offline.

No network fetch of any kind: styles, drawings and the one small script are in
the page. It opens with the summary — counts, run time, planted defects, the
system under test when there is one — and a table of every scenario; then each
scenario with all its violations (collapsible, never truncated), each with the
journal entries that prove it, and the timelines of the borrowers named in
violations and of any borrower picked with ``--borrower`` (README, "Seeing what
happened"). Violations a scenario declares it expects are labelled so. Personal
data is masked; instants are local with their offset unless UTC was asked for.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape

from simulator.core.instants import rezone
from simulator.core.privacy import redact
from simulator.faces.explain import Explanation
from simulator.faces.timeline import Mark, Quiet, Timeline
from simulator.faces.timeline_svg import TONE_COLOURS, render_svg
from simulator.faces.timeline_text import offset_of
from simulator.faces.timeline_words import LANES, TONES, moment
from simulator.world.runner import ScenarioResult

__all__ = ["RunFacts", "html_report"]


@dataclass(frozen=True)
class RunFacts:
    """What the summary says of the run as a whole."""

    started: datetime
    seconds: float
    defects: tuple[str, ...] = ()
    workers: int = 1
    #: the system under test, when lendsim tested one rather than its reference parties
    sut: str | None = None
    version: str = ""
    #: every instant shown in this zone (UTC on request); None: each scenario's own
    zone: tzinfo | None = None
    interrupted: bool = False


_STYLE = """
:root{--fail:#cf222e;--pass:#1a7f37;--exp:#9a6700;--line:#d0d7de;--soft:#f6f8fa}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
max-width:1200px;padding:0 20px 60px;color:#1f2328}
h1{margin:20px 0 4px}h2{margin:0;font-size:18px}h3{font-size:15px;margin:18px 0 6px}
code,pre,.entry{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
.verdict{font-size:16px;font-weight:600}.verdict.fail{color:var(--fail)}
.verdict.pass{color:var(--pass)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:10px 0}
dl.facts dt{color:#59636e}dl.facts dd{margin:0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;
border-bottom:1px solid var(--line);vertical-align:top}th{background:var(--soft)}
td.num{text-align:right}
.badge{display:inline-block;padding:0 6px;border-radius:4px;color:#fff;font-size:12px;
font-weight:600}.badge.fail{background:var(--fail)}.badge.pass{background:var(--pass)}
.tag-exp{color:var(--exp);font-size:12px}.tag-bad{color:var(--fail);font-weight:600}
section.scenario{border:1px solid var(--line);border-radius:6px;margin:16px 0;padding:12px}
section.scenario.fail{border-left:5px solid var(--fail)}
section.scenario.pass{border-left:5px solid var(--pass)}
.meta{color:#59636e;font-size:12px}ul.reasons{color:var(--fail)}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
ol.violations>li{margin:6px 0}ul.evidence{margin:2px 0;padding-left:18px}
.entry{white-space:pre-wrap;word-break:break-all}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:4px;background:#fff}
svg.timeline{display:block}svg.timeline text{font:10px system-ui,sans-serif;fill:#1f2328}
svg .lane{fill:#fff}svg .lane.odd{fill:var(--soft)}
svg .lane-name{text-anchor:end;font-weight:600}
svg .window{fill:#d4a72c;fill-opacity:.28}svg .day{stroke:#8c959f;stroke-dasharray:2 3}
svg .due{stroke:#57606a;stroke-dasharray:1 2}svg .date{font-weight:600}
svg .time{fill:#59636e!important;font-size:9px!important}
svg .quiet rect{fill:#eaeef2}svg .quiet text{fill:#59636e!important}
svg .evidence{fill:none;stroke:var(--fail);stroke-width:2}
svg .count{text-anchor:middle;font-size:8px!important}
svg .flag path{fill:var(--fail)}svg .flag line{stroke:var(--fail);stroke-dasharray:2 2}
svg .flag.expected path{fill:#bf8700}svg .flag.expected line{stroke:#bf8700}
svg a:hover circle{stroke:#1f2328;stroke-width:2}
table.entries td{padding:1px 6px;font-size:12px}table.entries tr.own td{font-weight:500}
table.entries tr.flagged td{background:#ffebe9}table.entries tr.quiet td{color:#59636e}
:target{outline:2px solid #0969da;background:#ddf4ff!important}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;margin:8px 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px}
"""

#: open the folded sections around a link's target (no network, no state)
_SCRIPT = """
(function(){function show(){var id=decodeURIComponent(location.hash.slice(1));
if(!id){return;}var node=document.getElementById(id);if(!node){return;}
for(var p=node;p;p=p.parentElement){if(p.tagName==="DETAILS"){p.open=true;}}
node.scrollIntoView({block:"center"});}
window.addEventListener("hashchange",show);document.addEventListener("DOMContentLoaded",show);
})();
"""


def _zone_of(result: ScenarioResult, explanation: Explanation | None,
             facts: RunFacts) -> tzinfo | None:
    if facts.zone is not None:
        return facts.zone
    return explanation.zone if explanation is not None else None


def _said(text: str, zone: tzinfo | None) -> str:
    return escape(redact(rezone(text, zone) if zone is not None else text))


def _violated_cell(result: ScenarioResult) -> str:
    if result.error:
        return '<span class="tag-bad">contract</span>'
    cells = []
    for name in result.violated:
        count = len(result.violations[name])
        if name not in result.unexpected:
            cells.append(f'{name} ×{count} <span class="tag-exp">expected</span>')
        else:
            cells.append(f'<span class="tag-bad">{name} ×{count}</span>')
    cells.extend(f'<span class="tag-bad">{escape(line)}</span>'
                 for line in (*result.missing, *result.unfired))
    return "<br>".join(cells) or "—"


def _summary(results: Sequence[ScenarioResult], facts: RunFacts) -> str:
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    verdict = (f'<p class="verdict fail">{failed} of {len(results)} scenario(s) failed</p>'
               if failed else f'<p class="verdict pass">all {len(results)} scenario(s) '
               "passed</p>")
    if facts.interrupted:
        verdict += '<p class="verdict fail">interrupted: only the runs that finished</p>'
    planted = sorted({d for r in results for d in r.defects} | set(facts.defects))
    zone = str(facts.zone) if facts.zone is not None else \
        "each scenario's jurisdiction (CN Asia/Shanghai, US America/New_York), with its offset"
    rows = [
        ("scenarios", f"{len(results)}: {passed} passed, {failed} failed"),
        ("run time", f"{facts.seconds:.1f} s wall, {sum(r.seconds for r in results):.1f} s "
                     f"of scenario runs in {facts.workers} process(es)"),
        ("started", facts.started.isoformat(timespec="seconds")),
        ("planted defects", ", ".join(planted) or "none"),
    ]
    if facts.sut:
        rows.append(("system under test", facts.sut))
    rows += [("times", zone),
             ("lendsim", f"{facts.version} on Python {platform.python_version()}")]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'{verdict}<dl class="facts">{items}</dl>'


def _table(results: Sequence[ScenarioResult]) -> str:
    rows = []
    for index, result in enumerate(results):
        badge = '<span class="badge pass">pass</span>' if result.passed else \
            '<span class="badge fail">FAIL</span>'
        rows.append(f'<tr><td>{badge}</td><td><a href="#s{index}">{escape(result.id)}</a>'
                    f'</td><td>{_violated_cell(result)}</td><td class="num">{result.events}'
                    f'</td><td class="num">{result.seconds:.2f}</td>'
                    f"<td><code>{result.digest[:12]}</code></td></tr>")
    return ("<table class='summary'><tr><th>result</th><th>scenario</th><th>violated</th>"
            "<th>events</th><th>seconds</th><th>digest</th></tr>" + "".join(rows) + "</table>")


def _legend() -> str:
    tones = "".join(f'<span><i style="background:{TONE_COLOURS[t]}"></i>{escape(words)}</span>'
                    for t, words in TONES.items())
    return (f'<div class="legend">{tones}</div><div class="legend"><span>shaded: a fault '
            "window on the lanes it touches</span><span>ring: evidence of a violation</span>"
            "<span>triangle: a violation (red unexpected, amber expected)</span><span>"
            "double ring and number: repeats</span><span>lanes: "
            f"{', '.join(LANES)}</span></div>")


def _violations(index: int, result: ScenarioResult, explanation: Explanation | None,
                zone: tzinfo | None) -> str:
    entries = dict(result.evidence)
    if explanation is not None:
        entries.update(explanation.entries)
    drawn = {t.borrower for t in explanation.timelines} if explanation else set()
    ids: set[str] = set()
    parts = []
    for name, found in result.violations.items():
        if not found:
            continue
        expected = name not in result.unexpected
        label = '<span class="tag-exp">expected</span>' if expected else \
            '<span class="tag-bad">not expected</span>'
        items = []
        for number, violation in enumerate(found):
            who = ""
            if violation.borrower is not None:
                link = (f' <a href="#t{index}-{escape(violation.borrower)}">timeline</a>'
                        if violation.borrower in drawn else "")
                who = (f"<b>{escape(violation.borrower)}</b> ({escape(violation.subject or '')})"
                       + (f" installment {violation.installment}"
                          if violation.installment is not None else "") + f"{link}: ")
            cause = f" <i>[cause: {_said(violation.cause, zone)}]</i>" if violation.cause else ""
            evidence = "".join(
                f'<li class="entry"{_first_id(f"s{index}-e{seq}", ids)}>'
                f"{_said(entries.get(seq, f'#{seq} (not kept)'), zone)}</li>"
                for seq in violation.evidence)
            items.append(f'<li id="s{index}-v-{name}-{number}">{who}'
                         f"{_said(violation.message, zone)}{cause}"
                         f'<ul class="evidence">{evidence}</ul></li>')
        opened = "" if expected else " open" if len(found) <= 20 else ""
        parts.append(f'<details class="invariant"{opened}><summary>{name} — {len(found)} '
                     f'violation(s) {label}</summary><ol class="violations">{"".join(items)}'
                     "</ol></details>")
    return "".join(parts)


def _first_id(ident: str, ids: set[str]) -> str:
    """`` id="…"`` the first time an element is named, nothing after (ids are unique)."""
    if ident in ids:
        return ""
    ids.add(ident)
    return f' id="{ident}"'


def _entry_rows(timeline: Timeline, anchor: str) -> str:
    rows = []
    day = None
    for item in timeline.items:
        if isinstance(item, Quiet):
            what = ", ".join(f"{n} {kind}" for kind, n in item.counts)
            rows.append(f'<tr class="quiet"><td colspan="4">⋯ {moment(item.start, timeline.zone)}'
                        f" → {moment(item.end, timeline.zone)}: {item.days} quiet day(s), "
                        f"{escape(what)}</td></tr>")
            continue
        rows.append(_entry_row(item, timeline, anchor, day))
        day = item.at.date()
    for number, flag in enumerate(timeline.flags):
        label = f"{flag.invariant} (expected)" if flag.expected else flag.invariant
        cause = f" [cause: {flag.cause}]" if flag.cause else ""
        seqs = " ".join(f'<a href="#{anchor}-e{seq}">#{seq}</a>' for seq in flag.evidence)
        rows.append(f'<tr class="flagged" id="{anchor}-f{number}"><td>'
                    f"{moment(flag.at, timeline.zone)}</td><td>▲</td><td>"
                    f"<b>{escape(label)}</b>: {escape(redact(flag.message + cause))}</td>"
                    f"<td>{seqs}</td></tr>")
    return "".join(rows)


def _entry_row(mark: Mark, timeline: Timeline, anchor: str, day: object) -> str:
    when = mark.at.strftime("%H:%M")
    if mark.at.date() != day:
        when = f"{mark.at.date().isoformat()} {when} {offset_of(mark.at.date(), timeline.zone)}"
    repeats = f" ×{mark.count}, the last {moment(mark.until, timeline.zone)}" \
        if mark.count > 1 else ""
    classes = " ".join(c for c in ("own" if mark.own else "", "flagged" if mark.flags else "")
                       if c)
    ident = f' id="{anchor}-e{mark.seqs[0]}"' if mark.seqs else ""
    seq = f"#{mark.seqs[0]}" if mark.seqs else ""
    return (f'<tr class="{classes}"{ident}><td>{when}</td><td>{mark.lane}</td>'
            f"<td>{escape(redact(mark.text))}{repeats}</td><td>{seq}</td></tr>")


def _timelines(index: int, explanation: Explanation | None) -> str:
    if explanation is None or not explanation.timelines:
        return ""
    parts = ["<h3>Timelines</h3>"]
    for number, timeline in enumerate(explanation.timelines):
        anchor = f"t{index}-{escape(timeline.borrower)}"
        flags = f", {len(timeline.flags)} violation(s)" if timeline.flags else ""
        opened = " open" if number == 0 else ""
        parts.append(
            f'<details class="timeline" id="{anchor}"{opened}><summary>'
            f"{escape(timeline.borrower)} ({escape(timeline.subject)}){flags} — times in "
            f"{escape(str(timeline.zone))}</summary><div class='scroll'>"
            f"{render_svg(timeline, anchor=anchor)}</div><table class='entries'><tr><th>when"
            f"</th><th>lane</th><th>what</th><th>entry</th></tr>"
            f"{_entry_rows(timeline, anchor)}</table></details>")
    drawn = {t.borrower for t in explanation.timelines}
    others = [b for b in explanation.named if b not in drawn]
    if others:
        parts.append(f"<p class='meta'>Timelines are drawn for {len(drawn)} borrower(s); also "
                     f"named in violations: {escape(', '.join(others))}. "
                     "<code>lendsim explain FILE --borrower ID</code> shows any of them.</p>")
    return "".join(parts)


def _scenario(index: int, result: ScenarioResult, explanation: Explanation | None,
              facts: RunFacts) -> str:
    zone = _zone_of(result, explanation, facts)
    scenario = result.scenario
    status = "pass" if result.passed else "fail"
    badge = f'<span class="badge {status}">{"pass" if result.passed else "FAIL"}</span>'
    meta = [str(scenario.file or "(no file)"), scenario.jurisdiction, f"seed {scenario.seed}",
            f"defects planted: {', '.join(result.defects) or 'none'}",
            f"{result.events} events", f"{result.seconds:.2f} s", f"digest {result.digest}"]
    reasons = "".join(f"<li>{_said(line, zone)}</li>" for line in result.reasons())
    return (f'<section class="scenario {status}" id="s{index}"><h2>{badge} '
            f"{escape(result.id)}</h2><p>{escape(scenario.summary)}</p>"
            f'<p class="meta">{escape(" · ".join(meta))}</p>'
            + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
            + _violations(index, result, explanation, zone)
            + _timelines(index, explanation) + "</section>")


def html_report(results: Sequence[ScenarioResult],
                explanations: Sequence[Explanation | None] | None = None,
                facts: RunFacts | None = None) -> str:
    """The page for ``results`` (``explanations`` in the same order, when drawn)."""
    facts = facts or RunFacts(datetime.now().astimezone(), sum(r.seconds for r in results))
    drawn = list(explanations or [])
    drawn += [None] * (len(results) - len(drawn))
    passed = sum(r.passed for r in results)
    title = f"lendsim: {passed} passed, {len(results) - passed} failed"
    sections = "".join(_scenario(i, r, drawn[i], facts) for i, r in enumerate(results))
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>lendsim report</h1>{_summary(results, facts)}</header>"
            f"<nav>{_table(results)}</nav><h3>How to read a timeline</h3>{_legend()}"
            f"<main>{sections}</main><script>{_SCRIPT}</script></body></html>\n")
