"""What ``lendsim explore`` prints and writes: progress, the campaign's summary, its JSON.

Progress goes to standard error (a line every few seconds: runs done, runs/s,
violating runs, distinct invariants); the summary to standard output: the campaign's
figures (with a system under test, how many worlds did not apply to it and why), then
each invariant violated with how many runs violated it, the first run and its shrunk
scenario (with the ``lendsim run`` options that reproduce it), and any run whose two
plays wrote different journals, with the first entry where they part. Personal data is
masked everywhere.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from rich.console import Console

from simulator.core.privacy import redact
from simulator.explore.campaign import Campaign, Progress
from simulator.faces.reports import write_report

__all__ = ["ProgressPrinter", "print_campaign", "write_campaign_json"]


class ProgressPrinter:
    """Prints a progress line at most every ``every`` seconds (and never the same twice)."""

    def __init__(self, console: Console, *, every: float = 5.0) -> None:
        self.console = console
        self.every = every
        self._last = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        self.console.print(
            f"explore: {progress.runs:,} runs, {progress.runs_per_second:.1f} runs/s, "
            f"{progress.violating:,} violating, {progress.targets} distinct invariant(s)",
            markup=False, highlight=False)


def _headline(campaign: Campaign) -> str:
    planted = (f"defect{'s' if len(campaign.defects) > 1 else ''} "
               f"{', '.join(campaign.defects)} planted" if campaign.defects
               else "no defect planted")
    under_test = f", {campaign.under_test} under test" if campaign.under_test else ""
    return (f"lendsim explore — seed {campaign.seed}, {campaign.runs:,} runs in "
            f"{campaign.seconds:.1f} s ({campaign.runs_per_second:.1f} runs/s) on "
            f"{campaign.backend}, {planted}{under_test}")


def _skips(campaign: Campaign) -> list[str]:
    """How many worlds did not apply to the system under test, and the first reasons."""
    if not campaign.skipped:
        return []
    lines = [f"{campaign.skipped:,} world(s) skipped: they do not apply to the system under "
             "test"]
    lines.extend(f"      {count:,} × the world {reason}"
                 for reason, count in campaign.skip_reasons.items())
    return lines


def print_campaign(campaign: Campaign, console: Console, *, rerun: str = "") -> None:
    """The campaign's summary (see the module's docstring); ``rerun`` are the options
    ``lendsim run`` needs to reproduce a shrunk file (``--sut …``)."""
    out = console.print
    out(_headline(campaign), markup=False, soft_wrap=True)
    for line in _skips(campaign):
        out(redact(line), markup=False, soft_wrap=True)
    if campaign.clean:
        out(f"every invariant held in every run; {campaign.twice:,} run(s) played twice "
            "wrote identical journals", markup=False)
        return
    runs = Counter(target for finding in campaign.findings for target in finding.targets)
    if campaign.findings:
        out(f"FOUND {len(campaign.findings):,} violating run(s), "
            f"{len(campaign.targets)} distinct invariant(s)", markup=False)
    width = max((len(target) for target in campaign.targets), default=0)
    for shrunk in campaign.shrunk:
        result = shrunk.shrunk
        head = f"  {shrunk.target:<{width}}  {runs[shrunk.target]:,} run(s), first run {shrunk.run}"
        if result is None:
            out(f"{head}: it did not violate it again when shrunk", markup=False)
            continue
        where = f": {shrunk.file}" if shrunk.file is not None else ""
        cut = ", budget spent" if result.exhausted else ""
        out(f"{head} → shrunk to {result.lines} lines ({result.evaluations} runs, "
            f"{result.seconds:.1f} s{cut}){where}", markup=False, soft_wrap=True)
        message = result.played.first.get(shrunk.target) or result.played.error or \
            result.played.failure or ""
        for line in message.split("\n")[:6]:
            out(f"      {redact(line)}", markup=False, soft_wrap=True)
        if shrunk.file is not None and rerun:
            out(f"      reproduce: lendsim run {rerun} {shrunk.file}", markup=False,
                soft_wrap=True)
    for finding in campaign.nondeterministic:
        divergence = finding.divergence
        assert divergence is not None
        one, two = divergence.entries
        out(f"NONDETERMINISTIC run {finding.run} (world seed {finding.world_seed}): two plays "
            f"wrote different journals ({divergence.digests[0][:12]}… ≠ "
            f"{divergence.digests[1][:12]}…), first at entry #{divergence.seq}",
            markup=False, soft_wrap=True)
        out(f"      first:  {redact(one or '(the journal had ended)')}", markup=False,
            soft_wrap=True)
        out(f"      second: {redact(two or '(the journal had ended)')}", markup=False,
            soft_wrap=True)


def write_campaign_json(path: Path, campaign: Campaign) -> None:
    """``--json``: the campaign, each finding with its run, world seed and shrunk file."""
    # every free text in it (messages, exceptions, journal entries) was masked where it was
    # made; masking the whole document would mask seeds and digests
    write_report(path, json.dumps(campaign.as_dict(), indent=2, ensure_ascii=False) + "\n")
