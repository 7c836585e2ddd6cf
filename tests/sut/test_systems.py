"""A system under test in a world: judged like a reference party, and every way it can
misbehave is a finding that names it — never a traceback, a hang or a leaked process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simulator.core.errors import LendsimError
from simulator.scenarios.loader import load_scenario
from simulator.scenarios.model import Scenario
from simulator.sut.profile import Profile
from simulator.sut.runs import SystemRun, close_launchers, run_with_system
from simulator.sut.targets import Launcher, parse_target
from simulator.world.roles import SystemFailure
from simulator.world.runner import ScenarioResult, run_scenario
from simulator.world.world import World
from tests.support.scenario_text import docking_outage, fault, load, repay, world

LIBRARY = Path(__file__).parents[2] / "scenarios"
#: a repayment on the due date while the platform->bank link is down for two hours
OUTAGE = {"steps": [fault("2026-02-01T20:00", "outage", link="platform->bank", for_="2h"),
                    repay("2026-02-01T21:00")]}
#: the incident: the API and the reconciliation file down for a day over the due date
DOCKING = {"steps": [*docking_outage("2026-02-01T08:00", "1d"), repay("2026-02-01T21:00")]}


def run(target: str, scenario: Scenario, *, role: str = "platform",
        timeout: float = 10.0, profile: Profile | None = None) -> ScenarioResult:
    spec = parse_target(role, target)
    system = SystemRun(spec, profile or Profile.default(role), timeout)
    try:
        return run_with_system(scenario, system)
    finally:
        close_launchers()


def test_reference_platform_in_process_passes_the_outage() -> None:
    """The reference platform as a python: target retries through an outage and passes."""
    result = run("python:tests.support.systems:platform", load(**OUTAGE))
    assert result.passed, result.reasons()
    assert result.under_test == "platform=python:tests.support.systems:platform"


def test_a_platform_that_never_retries_is_caught_by_the_invariants() -> None:
    """The reference platform with platform.no_retry never forwards the repayment again: it
    never reaches the bank (in_transit_bounded) nor is it posted (exactly_once_posting)."""
    result = run("python:tests.support.systems:platform_no_retry", load(**OUTAGE))
    assert result.failed
    assert {"in_transit_bounded", "exactly_once_posting"} <= set(result.unexpected), \
        result.reasons()


def test_verdicts_match_the_in_process_reference() -> None:
    """The reference bank as a command: system gives the in-process verdicts, violation for
    violation, on the incident with and without a defective platform."""
    target = f"command:{sys.executable} -m simulator serve-party bank --port {{port}}"
    for overrides in (DOCKING, {**DOCKING, "world": world(defects=["platform.no_retry"])}):
        scenario = load(**overrides)
        alone = run_scenario(scenario)
        served = run(target, scenario, role="bank")
        assert served.status == alone.status, served.reasons()
        assert served.violated == alone.violated


def test_a_bank_reads_its_peers_answers_as_json_through_requests() -> None:
    """An in-process bank's requests to the platform get application/json answers it can
    read: the disputed record is verified and stays (a bureau crash in between)."""
    scenario = load_scenario(LIBRARY / "crashes" / "bureau-crash-across-report-and-dispute.yaml")
    result = run("python:tests.support.systems:bank", scenario, role="bank")
    assert result.passed, result.reasons()


def test_a_bank_that_ignores_idempotency_keys_posts_twice() -> None:
    """A bank posting a replayed repayment again is caught by exactly_once_posting."""
    scenario = load_scenario(LIBRARY / "ambiguity" / "duplicate-delivery.yaml")
    result = run("python:tests.support.systems:bank_ignores_idempotency_key", scenario,
                 role="bank")
    assert "exactly_once_posting" in result.unexpected, result.reasons()


@pytest.mark.parametrize(("factory", "finding"), [
    ("platform_clock_back", "answered set_clock with its clock at"),
    ("platform_never_idle", "never became idle"),
    ("platform_html_repay", "expected an application/json body, got text/html"),
    ("platform_calls_out", "called GET http://example.com, which is not one of its peers"),
])
def test_a_misbehaving_platform_stops_the_run_with_a_finding(factory: str,
                                                             finding: str) -> None:
    """Each way of breaking the control or the role's contract fails the run, saying how."""
    result = run(f"python:tests.support.systems:{factory}", load(**OUTAGE))
    assert result.failed
    assert result.error is not None and finding in result.error, result.error
    assert "Traceback" not in "\n".join(result.reasons())


def test_a_slow_answer_is_bounded_by_the_timeout() -> None:
    """An answer later than --timeout is a finding after that long, not a hang."""
    result = run("python:tests.support.systems:platform_slow_repay", load(**OUTAGE), timeout=1)
    assert result.error is not None
    assert "did not answer platform.repay within 1 s" in result.error


def test_a_crash_scenario_is_skipped_for_a_system_that_cannot_crash() -> None:
    """POST /lendsim/crash answering 404 skips the scenario, saying why."""
    scenario = load_scenario(LIBRARY / "crashes" / "platform-crash-with-pending-forwards.yaml")
    result = run("python:tests.support.systems:platform_no_crash", scenario)
    assert result.status == "skip"
    assert result.skipped is not None and "does not crash on request" in result.skipped


def test_a_command_that_exits_at_once_is_a_finding_with_its_stderr() -> None:
    """A command that dies before it is ready fails the run with its last stderr lines."""
    target = (f"command:{sys.executable} -c \"import sys; sys.stderr.write('no database "
              f"configured on port {{port}}\\n'); sys.exit(3)\"")
    result = run(target, load(**OUTAGE))
    assert result.error is not None and "exited (status 3)" in result.error
    assert any("no database configured" in line for line in result.details)


def test_a_command_that_never_listens_is_given_up_on() -> None:
    """A command that never opens its port fails after the ready wait, and is stopped."""
    target = f"command:{sys.executable} -c \"import time; time.sleep(60)\" {{port}}"
    with Launcher(parse_target("platform", target), ready=1.0) as launcher, \
            pytest.raises(SystemFailure, match="nothing answered GET /lendsim/clock"):
        World(load(**OUTAGE), systems={"platform": launcher.factory})


@pytest.mark.parametrize(("role", "target", "expected"), [
    ("bureau", "http://127.0.0.1:9", "no role 'bureau'"),
    ("bank", "ftp://example.com", "is not a target"),
    ("bank", "python:shop", "expected python:package.module:app"),
    ("bank", "command:serve --port 8000", "must take its port from {port}"),
    ("bank", "command:", "the command is empty"),
    ("bank", "http://", "is not a base URL"),
])
def test_bad_targets_are_refused_with_what_was_expected(role: str, target: str,
                                                         expected: str) -> None:
    """An unknown role or target kind names what was expected."""
    with pytest.raises(LendsimError, match=expected):
        parse_target(role, target)


@pytest.mark.parametrize(("target", "expected"), [
    ("python:no_such_module_here:app", "cannot import no_such_module_here"),
    ("python:tests.support.systems:missing", "has no attribute missing"),
])
def test_a_python_target_that_cannot_be_loaded_is_bad_input(target: str,
                                                            expected: str) -> None:
    """An import error in a python: target is bad input naming the module."""
    with pytest.raises(LendsimError, match=expected):
        run(target, load(**OUTAGE))


def test_a_factory_that_returns_no_app_is_a_finding() -> None:
    """A factory returning something that is not an app fails the run, saying so."""
    result = run("python:tests.support.systems:not_an_app", load(**OUTAGE))
    assert result.error is not None and "not a WSGI or ASGI app" in result.error


def test_a_failing_factory_is_a_finding() -> None:
    """A factory that raises fails the run, naming its error."""
    result = run("python:tests.support.systems:broken_factory", load(**OUTAGE))
    assert result.error is not None
    assert "the factory failed (RuntimeError: the database is not configured)" in result.error


def test_nothing_outside_a_world_meets_its_patches() -> None:
    """Once a world with a python: system is over — its launcher still cached, as in a
    user's pytest session — requests, the clock and the date are the real ones again."""
    import datetime as dt
    import time

    import requests.adapters

    from simulator.sut.runs import launcher_for

    send, clock, today = requests.adapters.HTTPAdapter.send, time.time, dt.date
    system = SystemRun(parse_target("platform", "python:tests.support.systems:platform"),
                       Profile.default("platform"), 10.0)
    try:
        assert run_with_system(load(**OUTAGE), system).passed
        assert launcher_for(system) is launcher_for(system)  # still cached
        assert requests.adapters.HTTPAdapter.send is send
        assert time.time is clock and dt.date is today
    finally:
        close_launchers()
