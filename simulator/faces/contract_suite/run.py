"""Running the contract suite: schemathesis, then lendsim's probes, per contract."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from simulator.core.errors import LendsimError
from simulator.core.privacy import redact
from simulator.faces.contract_suite.checks import register_checks
from simulator.faces.contract_suite.probes import probe
from simulator.faces.contract_suite.report import Finding, PartyReport, SuiteReport
from simulator.faces.contract_suite.targets import (
    InProcess,
    Live,
    Signer,
    SuiteRun,
    SuiteState,
    Target,
)
from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Scenario
from simulator.serve.sandbox import Sandbox
from simulator.wire.contracts import SERVED
from simulator.wire.signing import Keyring

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "SUITE_HORIZON",
    "SUITE_KEY_ID",
    "SUITE_WORLD",
    "config",
    "run_contract_suite",
    "run_party",
    "suite_scenario",
    "target_for",
]


DEFAULT_MAX_EXAMPLES = 10


#: the partner key the suite signs with (not a link's caller: calls reach parties directly)
SUITE_KEY_ID = "partner"


#: how far the suite's in-process sandbox clock may move: it bounds the work of an advance
#: (a fuzzed crash of the bank lasting a year makes the platform retry a file a day, hourly)
SUITE_HORIZON = timedelta(days=90)


_STATEFUL_STEPS = 8


#: The in-process world: the borrowers the contracts' examples name (``L-alice``).
SUITE_WORLD = """\
scenario: contract-suite
summary: The world the contract suite runs in; its loans are the ones the contracts' examples use.
start: 2026-01-01T09:00
until: 2026-12-31
borrowers:
  - id: alice
    loan: {principal: 12000.00, annual_rate: 0.18, months: 12, disbursed: 2026-01-01}
  - id: bob
    loan: {principal: 5000.00, annual_rate: 0.12, months: 6, disbursed: 2026-01-01}
"""


_SIGNATURE_HEADER = re.compile(r" -H '(?:X-Lendsim-[A-Za-z-]+|Authorization)(?:: [^']*|;)'")


def suite_scenario() -> Scenario:
    """The scenario of the suite's in-process sandbox."""
    return load_scenario_text(SUITE_WORLD, "<contract-suite>")


def config(seed: int, max_examples: int, base_url: str | None) -> Any:
    from schemathesis.config import SchemathesisConfig

    data: dict[str, Any] = {
        "seed": seed,
        "workers": 1,
        "generation": {"max-examples": max_examples, "database": "none", "mode": "all",
                       "no-shrink": True},
        "phases": {"stateful": {"max-steps": _STATEFUL_STEPS,
                                "inference": {"algorithms": []}}},
        # replaced by lendsim_positive_data, which tells a business rule from a rejection
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "request-timeout": 30,
    }
    if base_url is not None:
        data["base-url"] = base_url
    return SchemathesisConfig.from_dict(data)


def _clean_curl(code: str, case: Any) -> str:
    """A schemathesis reproduction without the signature headers (they never replay), with
    the ``Idempotency-Key`` it filtered as if it were a secret."""
    code = _SIGNATURE_HEADER.sub("", code)
    headers = getattr(case, "headers", None) or {}
    key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
    if isinstance(key, str) and "'" not in key:
        code = code.replace("-H 'Idempotency-Key: [Filtered]'", f"-H 'Idempotency-Key: {key}'")
    return code


def _schemathesis(run: SuiteRun, report: PartyReport, seed: int, max_examples: int,
                  base_url: str | None) -> None:
    from schemathesis.engine import events, from_schema

    try:
        schema = run.target.load(run.party, config(seed, max_examples, base_url))
    except Exception as error:  # the contract could not be fetched: bad --url
        raise LendsimError(f"cannot load the {run.party} contract from {run.target.label}: "
                           f"{redact(str(error)).splitlines()[0] if str(error) else error!r}"
                           ) from None
    labels = {f"{method} {path}": f"{method} {path} ({name})"
              for name, (method, path, _) in run.contracts.operations(run.party).items()}
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, nodes in recorder.checks.items():
                node_case = recorder.cases.get(case_id)
                label = node_case.value.operation.label if node_case is not None else \
                    recorder.label
                for node in nodes:
                    report.checks.add(node.name)
                    info = node.failure_info
                    if info is None:
                        continue
                    key = (label, node.name, info.failure.title)
                    if key in seen:
                        continue
                    seen.add(key)
                    report.failures.append(Finding(
                        run.party, labels.get(label, label), node.name, info.failure.title,
                        info.failure.message,
                        _clean_curl(info.code_sample,
                                    node_case.value if node_case is not None else None)))
        elif isinstance(event, events.NonFatalError):
            report.failures.append(Finding(run.party, event.label or run.party, "error",
                                           "The run hit an error",
                                           event.info.format(base_url_is_set=True)))
        elif isinstance(event, events.FatalError):
            report.failures.append(Finding(run.party, run.party, "error",
                                           "The run stopped", str(event.exception)))


def run_party(party: str, target: Target, keyring: Keyring, key_id: str, seed: int,
               max_examples: int) -> PartyReport:
    began = time.perf_counter()
    target.reset()
    signer = Signer(keyring, key_id, target.now, target.moved)
    run = SuiteRun(party, target, signer)
    report = PartyReport(party, operations=len(run.contracts.operations(party)), labels=[
        f"{method} {path} ({name})"
        for name, (method, path, _) in run.contracts.operations(party).items()])
    base_url = target.url(target.prefix(party)) if isinstance(target, Live) else None
    faces = logging.getLogger("lendsim.http")
    level = faces.level
    with SuiteState.lock:
        SuiteState.active = run
        faces.setLevel(logging.ERROR)  # what a face would warn of is a finding here
        try:
            _schemathesis(run, report, seed, max_examples, base_url)
            probe(run, seed)
        finally:
            SuiteState.active = None
            faces.setLevel(level)
    report.failures.extend(run.findings)
    report.checks.update(f.check for f in run.findings)
    report.requests = signer.count
    report.seconds = time.perf_counter() - began
    return report


def run_contract_suite(parties: Sequence[str] = SERVED, *, url: str | None = None,
                       seed: int = 0, max_examples: int = DEFAULT_MAX_EXAMPLES,
                       keyring: Keyring | None = None, key_id: str = SUITE_KEY_ID,
                       defects: Sequence[str] = (), sandbox: Sandbox | None = None,
                       on_party: Callable[[PartyReport], None] | None = None
                       ) -> SuiteReport:
    """Run the suite for ``parties``: in process (a fresh sandbox of :func:`suite_scenario`
    with ``defects``, or the ``sandbox`` given) or against the server at ``url``;
    ``on_party`` sees each contract's report as it finishes (progress).

    Raises :class:`~simulator.core.errors.LendsimError` for bad input (an unknown party, a
    URL that serves no contract, a bad number).
    """
    unknown = [p for p in parties if p not in SERVED]
    if unknown:
        raise LendsimError(f"no contract for {', '.join(unknown)} "
                           f"(there are: {', '.join(SERVED)})")
    if max_examples < 1:
        raise LendsimError(f"--max-examples must be at least 1 (got {max_examples})")
    if seed < 0:
        raise LendsimError(f"--seed must be 0 or more (got {seed})")
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise LendsimError(f"--url must be an http:// or https:// address (got {url!r})")
    keyring = keyring or Keyring.for_testing()
    if key_id not in keyring.key_ids:
        raise LendsimError(f"the keyring has no key {key_id!r}")
    register_checks()
    with target_for(sandbox, url, defects, keyring) as target:
        report = SuiteReport(target.label, seed, max_examples)
        for party in parties:
            report.parties.append(run_party(party, target, keyring, key_id, seed,
                                             max_examples))
            if on_party is not None:
                on_party(report.parties[-1])
    return report


@contextmanager
def target_for(sandbox: Sandbox | None, url: str | None, defects: Sequence[str],
            keyring: Keyring) -> Iterator[Target]:
    """Where a run sends its requests; a sandbox the run makes itself is closed after it."""
    if url is not None:
        yield Live(url)
    elif sandbox is not None:
        yield InProcess(sandbox)
    else:
        made = Sandbox(suite_scenario(), defects=defects, keyring=keyring,
                       horizon=SUITE_HORIZON)
        try:
            yield InProcess(made)
        finally:
            made.close()
