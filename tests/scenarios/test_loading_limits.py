"""Scenario input that cannot hang or exhaust the tool (simulator.scenarios.loader): a size
limit, alias expansion limits, every mistake of a file and of a folder in one run, other YAML
skipped with a note, and loan timelines that cannot happen refused naming both dates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.core.errors import NotAScenario, ScenarioError, ScenarioErrors
from simulator.faces.cli import app
from simulator.scenarios.loader import (
    DEFAULT_MAX_BYTES,
    load_all,
    load_scenario,
    load_scenario_text,
)

GOOD = """\
scenario: small
summary: One borrower.
start: 2026-01-01T09:00
until: 2026-04-01
borrowers:
  - id: alice
    loan: {principal: 1200.00, annual_rate: 0.18, months: 3, disbursed: 2026-01-01}
"""


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, file="s.yaml")
    return caught.value


def test_an_alias_bomb_is_refused_at_once() -> None:
    """Nine levels of nine aliases under ``tags:`` (9^9 values) are refused in well under a
    second, naming the limit, instead of running for minutes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n" + GOOD + "tags: *a9\n"
    began = time.perf_counter()
    error = error_of(bomb)
    assert time.perf_counter() - began < 1
    assert "more than 100,000 YAML values through its aliases" in error.message


def test_a_file_over_the_limit_is_not_read(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over the size limit is refused naming the limit and how to raise it; the
    environment variable raises it."""
    big = tmp_path / "big.yaml"
    big.write_text(GOOD + "#" * DEFAULT_MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="LENDSIM_MAX_SCENARIO_BYTES"):
        load_scenario(big)
    monkeypatch.setenv("LENDSIM_MAX_SCENARIO_BYTES", str(2 * DEFAULT_MAX_BYTES))
    assert load_scenario(big).id == "small"
    monkeypatch.setenv("LENDSIM_MAX_SCENARIO_BYTES", "lots")
    with pytest.raises(ScenarioError, match="positive number of bytes"):
        load_scenario(big)


def test_every_mistake_of_a_file_is_reported() -> None:
    """An unknown key and a bad value (schema), or two bad steps (meaning): each is reported
    with its own line."""
    schema = error_of(GOOD.replace("summary: One borrower.",
                                   "summary: One borrower.\nsed: 1\nseed: -4"))
    assert isinstance(schema, ScenarioErrors)
    assert [e.line for e in schema.errors] == [3, 4]
    steps = GOOD + ("steps:\n  - at: 2026-02-01T10:00\n    repay: {borrower: zed, installment: 1}"
                    "\n  - at: 2026-02-02T10:00\n    repay: {borrower: alice, installment: 9}\n")
    meaning = error_of(steps)
    assert isinstance(meaning, ScenarioErrors)
    assert [(e.line, e.key) for e in meaning.errors] == [
        (10, "steps[0].repay.borrower"), (12, "steps[1].repay.installment")]


def test_every_mistake_of_a_folder_is_reported_and_other_yaml_skipped(tmp_path: Path) -> None:
    """Two bad files in a folder are both reported in one run; a YAML file with no
    ``scenario:`` key is skipped with a note (and is an error when named directly)."""
    (tmp_path / "a.yaml").write_text(GOOD.replace("months: 3", "months: 0"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD.replace("2026-04-01", "2025-04-01"),
                                     encoding="utf-8")
    (tmp_path / "config.yaml").write_text("name: not a scenario\nsteps: 3\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(ScenarioErrors) as caught:
        load_all([tmp_path])
    assert [Path(e.file or "").name for e in caught.value.errors] == ["a.yaml", "b.yaml"]
    (tmp_path / "a.yaml").unlink()
    (tmp_path / "b.yaml").unlink()
    loaded = load_all([tmp_path])
    assert [s.id for s in loaded.scenarios] == ["small"]
    assert len(loaded.skipped) == 1 and "config.yaml" in loaded.skipped[0]
    with pytest.raises(NotAScenario):
        load_all([tmp_path / "config.yaml"])
    result = CliRunner().invoke(app, ["run", "-q", str(tmp_path)])
    assert result.exit_code == 0 and "note: skipped" in result.stderr


def test_the_command_shows_every_mistake(tmp_path: Path) -> None:
    """``lendsim run FOLDER`` with two bad files: exit 2, one error line each, no run."""
    (tmp_path / "a.yaml").write_text(GOOD.replace("months: 3", "months: 0"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD.replace("2026-04-01", "2025-04-01"),
                                     encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "a.yaml:7" in errors[0] and "b.yaml:4" in errors[1]


@pytest.mark.parametrize(("change", "dates"), [
    pytest.param(("start: 2026-01-01T09:00", "start: 2026-03-01T09:00"),
                 ("2026-01-01", "2026-02-01", "2026-03-01T09:00:00+08:00"),
                 id="installment-due-before-start"),
    pytest.param(("disbursed: 2026-01-01", "disbursed: 2026-05-01"),
                 ("2026-05-01", "2026-04-01T00:00:00+08:00"), id="disbursed-after-until"),
])
def test_an_impossible_loan_timeline_is_refused(change: tuple[str, str],
                                                dates: tuple[str, ...]) -> None:
    """A loan with an installment due before the run starts, or disbursed after it ends, is
    refused at its ``disbursed`` key with a message naming both dates."""
    error = error_of(GOOD.replace(*change))
    assert error.key == "borrowers[0].loan.disbursed"
    assert all(date in error.message for date in dates)


def test_a_repayment_before_its_loan_is_disbursed_is_refused() -> None:
    """A repay step before the loan's disbursement names both instants."""
    text = GOOD.replace("disbursed: 2026-01-01", "disbursed: 2026-02-01") + (
        "steps:\n  - at: 2026-01-15T10:00\n    repay: {borrower: alice, installment: 1}\n")
    error = error_of(text)
    assert error.key == "steps[0].repay.borrower"
    assert "2026-01-15T10:00:00+08:00" in error.message and "2026-02-01" in error.message
