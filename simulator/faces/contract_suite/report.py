"""What a run of the contract suite found: per contract, per operation, as text or JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from simulator.core.privacy import redact

__all__ = ["Finding", "PartyReport", "SuiteReport"]


@dataclass(frozen=True)
class Finding:
    """One failed check, with a request that reproduces it."""

    party: str
    operation: str  #: ``POST /repayments (post_repayment)``
    check: str
    title: str
    message: str
    reproduce: str = ""

    def text(self) -> str:
        lines = [f"FAIL {self.party} {self.operation}: {self.check} — {self.title}"]
        # schemathesis appends the whole schema and value: the first paragraphs say it
        message = re.split(r"\n\s*Schema( at [^\n]*)?:\n", self.message.strip())[0]
        lines += [f"    {line}" for line in message.splitlines() if line.strip()]
        if self.reproduce:
            lines.append("    reproduce (add the X-Lendsim-* signature headers first):")
            lines += [f"      {line}" for line in self.reproduce.strip().splitlines()]
        return redact("\n".join(lines))


@dataclass
class PartyReport:
    """How one contract fared."""

    party: str
    operations: int = 0
    #: ``POST /repayments (post_repayment)`` for each operation of the contract
    labels: list[str] = field(default_factory=list)
    requests: int = 0
    failures: list[Finding] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteReport:
    """A whole run of the suite."""

    target: str
    seed: int
    max_examples: int
    parties: list[PartyReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parties)

    @property
    def failures(self) -> list[Finding]:
        return [f for p in self.parties for f in p.failures]

    def text(self) -> str:
        """The human report: one line per contract, then every failure."""
        lines = [f"lendsim contracts test — {self.target}, seed {self.seed}, "
                 f"at most {self.max_examples} examples per operation and phase"]
        for p in self.parties:
            verdict = "ok  " if p.passed else "FAIL"
            lines.append(f"{verdict} {p.party:<9} {p.operations:>2} operations "
                         f"{p.requests:>5} requests {len(p.failures):>3} failures "
                         f"{p.seconds:6.1f} s")
        for finding in self.failures:
            lines.append("")
            lines.append(finding.text())
        failed = len(self.failures)
        lines.append("")
        lines.append(f"{failed} failure(s) in {sum(not p.passed for p in self.parties)} of "
                     f"{len(self.parties)} contract(s)" if failed else
                     f"all {len(self.parties)} contract(s) conform")
        return "\n".join(lines)

    def junit(self) -> str:
        """JUnit XML: a test suite per contract, a test case per operation and check."""
        root = ET.Element("testsuites", name="lendsim contracts test",
                          tests=str(sum(len(_junit_cases(p)) for p in self.parties)),
                          failures=str(len(self.failures)))
        for p in self.parties:
            cases = _junit_cases(p)
            suite = ET.SubElement(root, "testsuite", name=f"contracts.{p.party}",
                                  tests=str(len(cases)), failures=str(len(p.failures)),
                                  time=f"{p.seconds:.3f}")
            for name, found in cases.items():
                case = ET.SubElement(suite, "testcase", classname=f"contracts.{p.party}",
                                     name=name)
                for finding in found:
                    failure = ET.SubElement(case, "failure",
                                            message=redact(f"{finding.check}: {finding.title}"))
                    failure.text = finding.text()
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_cases(report: PartyReport) -> dict[str, list[Finding]]:
    """A case per operation of the contract (and one for failures of no operation)."""
    cases: dict[str, list[Finding]] = {label: [] for label in report.labels}
    for finding in report.failures:
        cases.setdefault(finding.operation, []).append(finding)
    return cases
