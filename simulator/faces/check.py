"""``lendsim check``: the onboarding check of a user's bank or platform.

One verdict per requirement, in four groups (README, "Test your own bank or
platform"):

``profile``   what the system promises is within the jurisdiction's legal limits;
``control``   the control contract: reset, the clock, wake-ups, crashes
              (:mod:`simulator.sut.conformance`);
``contract``  the contract suite of its role against it (schemathesis and lendsim's
              probes, :mod:`simulator.faces.contract_suite`);
``scenario``  every library scenario that applies, run with the system in its role;
              the others are listed as skipped, with the reason.

Each verdict carries its evidence and the command that reproduces it. The
report is printed, and written as JSON, JUnit XML or HTML on request; the check
passes only when every requirement does.
"""

from __future__ import annotations

import json
import shlex
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from simulator.core.privacy import redact
from simulator.faces.batch import Job, run_batch
from simulator.faces.contract_suite.system import run_suite_on_system
from simulator.faces.progress import Meter
from simulator.scenarios.model import Scenario
from simulator.sut.conformance import Requirement, control_conformance
from simulator.sut.runs import SystemRun, launcher_for
from simulator.world.runner import ScenarioResult

__all__ = ["CheckReport", "run_check"]



@dataclass
class CheckReport:
    """Every requirement's verdict, and the scenario results behind the ``scenario`` ones."""

    system: SystemRun
    requirements: list[Requirement] = field(default_factory=list)
    results: list[ScenarioResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        return not self.interrupted and all(r.passed for r in self.requirements)

    def counts(self) -> dict[str, int]:
        found = {"pass": 0, "FAIL": 0, "skip": 0}
        for requirement in self.requirements:
            found[requirement.status] += 1
        return found

    def as_dict(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "system": self.system.spec.text,
            "profile": self.system.profile.describe(),
            "passed": self.passed,
            "counts": {"passed": counts["pass"], "failed": counts["FAIL"],
                       "skipped": counts["skip"]},
            "seconds": round(self.seconds, 3),
            "requirements": [
                {"group": r.group, "name": r.name, "status": r.status,
                 "evidence": [redact(line) for line in r.evidence], "reproduce": r.reproduce}
                for r in self.requirements],
            "scenarios": [result.as_dict() for result in self.results],
        }

    def json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    def junit(self) -> str:
        counts = self.counts()
        suite = ET.Element("testsuite", name=f"lendsim check {self.system.spec.role}",
                           tests=str(len(self.requirements)), failures=str(counts["FAIL"]),
                           errors="0", skipped=str(counts["skip"]),
                           time=f"{self.seconds:.3f}")
        for requirement in self.requirements:
            case = ET.SubElement(suite, "testcase", classname=requirement.group,
                                 name=requirement.name)
            text = "\n".join(redact(line) for line in requirement.evidence)
            if requirement.skipped:
                ET.SubElement(case, "skipped", message=text.split("\n")[0] if text else "")
            elif not requirement.passed:
                failure = ET.SubElement(case, "failure",
                                        message=text.split("\n")[0] if text else "failed")
                failure.text = f"{text}\n\nreproduce: {requirement.reproduce}"
            out = ET.SubElement(case, "system-out")
            out.text = f"{text}\nreproduce: {requirement.reproduce}"
        ET.indent(suite)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"

    def html(self) -> str:
        counts = self.counts()
        verdict = "pass" if self.passed else "fail"
        rows = []
        for requirement in self.requirements:
            evidence = "<br>".join(escape(redact(line)) for line in requirement.evidence)
            rows.append(
                f'<tr class="{requirement.status.lower()}"><td>{requirement.group}</td>'
                f'<td class="status">{requirement.status}</td>'
                f"<td>{escape(requirement.name)}</td><td>{evidence}</td>"
                f"<td><code>{escape(requirement.reproduce)}</code></td></tr>")
        profile = "<br>".join(escape(line) for line in self.system.profile.describe())
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>lendsim check — {escape(self.system.spec.text)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left;
          vertical-align: top; }}
tr.fail .status {{ color: #b00; font-weight: bold; }}
tr.pass .status {{ color: #070; }}
tr.skip .status {{ color: #a60; }}
.verdict.fail {{ color: #b00; }} .verdict.pass {{ color: #070; }}
code {{ font-size: 12px; word-break: break-all; }}
</style></head><body>
<h1>lendsim check</h1>
<p><code>{escape(self.system.spec.text)}</code></p>
<p>{profile}</p>
<p class="verdict {verdict}">{counts["pass"]} passed, {counts["FAIL"]} failed,
{counts["skip"]} skipped in {self.seconds:.1f} s</p>
<table><thead><tr><th>group</th><th>result</th><th>requirement</th><th>evidence</th>
<th>reproduce</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""


def _command(system: SystemRun, *words: str) -> str:
    profile = ["--profile", system.profile.file] if system.profile.file else []
    return shlex.join(["lendsim", *words, *profile])


def _scenario_requirement(result: ScenarioResult, system: SystemRun) -> Requirement:
    file = result.scenario.file
    requirement = Requirement(
        "scenario", result.id, passed=not result.failed, skipped=result.skipped is not None,
        reproduce=_command(system, "run", "--sut", system.spec.text,
                           str(file) if file is not None else result.id))
    if result.skipped is not None:
        requirement.evidence.append(f"does not apply: the scenario {result.skipped}")
    elif result.failed:
        requirement.evidence.extend(result.reasons())
    else:
        requirement.evidence.append(f"passed: {result.events} events, digest "
                                    f"{result.digest[:12]}")
    requirement.evidence.extend(result.notes)
    return requirement


def run_check(system: SystemRun, scenarios: Sequence[Scenario], *, workers: int,
              meter: Meter, seed: int = 0, max_examples: int = 5) -> CheckReport:
    """Every requirement of the check, in order; Ctrl-C keeps what finished."""
    began = time.perf_counter()
    report = CheckReport(system)
    again = _command(system, "check", "--role", system.spec.role, "--target",
                     system.spec.text.split("=", 1)[1])
    beyond = system.profile.beyond_the_law()
    law = Requirement("profile", "the profile promises nothing beyond the law",
                      passed=not beyond, reproduce=again)
    law.evidence.extend(beyond or system.profile.describe())
    report.requirements.append(law)
    try:
        launcher = launcher_for(system)
        control = control_conformance(launcher, system.profile.jurisdictions[0], again)
        report.requirements.extend(control)
        if not control[0].passed:  # not even reset: nothing else can be judged
            report.seconds = time.perf_counter() - began
            return report
        suite = run_suite_on_system(launcher, seed=seed, max_examples=max_examples)
        contract = Requirement("contract", f"the {system.spec.role} contract: every answer as "
                                           "it says", passed=suite.passed, reproduce=again)
        contract.evidence.append(f"{suite.requests} requests over {suite.operations} "
                                 f"operations; checks: {', '.join(sorted(suite.checks))}")
        contract.evidence.extend(finding.text() for finding in suite.failures)
        report.requirements.append(contract)
        jobs = [Job(scenario, system=system) for scenario in scenarios]
        batch = run_batch(jobs, workers=workers, meter=meter)
        report.results = batch.results
        report.interrupted = batch.interrupted
        report.requirements.extend(_scenario_requirement(r, system) for r in batch.results)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - began
    return report


