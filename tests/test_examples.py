"""The ready CI set-ups in examples/ci/: they run the library and publish JUnit and HTML.

The lendsim command each one runs is run here too (on one scenario, for time), and must
write the reports the set-up then publishes.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from simulator.faces.cli import app

CI = Path(__file__).resolve().parents[1] / "examples" / "ci"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CI / name).read_text(encoding="utf-8"))
    return data


def lendsim_args(command: str) -> list[str]:
    """The arguments of the ``lendsim run`` in a shell command."""
    words = shlex.split(" ".join(command.split()))
    assert words[:2] == ["lendsim", "run"], command
    return words[1:]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def run_like_ci(args: list[str], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``args`` in ``folder`` (one scenario of the library, via -k) and check it wrote
    the JUnit, HTML and JSON reports where the set-up looks for them."""
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, [*args, "-k", "docking-failure-correct-bank", "-j", "1"])
    assert result.exit_code == 0, result.output
    for flag in ("--junit", "--html", "--json"):
        assert (folder / option(args, flag)).stat().st_size > 0, flag


def test_github_workflow_runs_the_library_and_publishes_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow installs lendsim, runs it with --junit and --html into reports/, publishes
    that JUnit file as a check and uploads reports/ — whatever the run's outcome."""
    workflow = load("github-actions.yml")
    steps = workflow["jobs"]["scenarios"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert any("pip install" in command for command in runs)
    [command] = [command for command in runs if command.strip().startswith("lendsim run")]
    args = lendsim_args(command)
    junit = next(step for step in steps if "junit" in step.get("uses", ""))
    assert junit["with"]["report_paths"] == option(args, "--junit")
    upload = next(step for step in steps if step.get("uses", "").startswith(
        "actions/upload-artifact"))
    assert option(args, "--html").startswith(upload["with"]["path"])
    assert junit["if"] == upload["if"] == "${{ !cancelled() }}"
    run_like_ci(args, tmp_path, monkeypatch)


def test_gitlab_job_runs_the_library_and_publishes_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GitLab job runs lendsim with --junit and --html, hands GitLab the JUnit file and
    keeps reports/ always."""
    job = load("gitlab-ci.yml")["lendsim"]
    [command] = [line for line in job["script"] if line.startswith("lendsim run")]
    args = lendsim_args(command)
    assert job["artifacts"]["reports"]["junit"] == option(args, "--junit")
    assert job["artifacts"]["when"] == "always"
    assert any(option(args, "--html").startswith(path) for path in job["artifacts"]["paths"])
    run_like_ci(args, tmp_path, monkeypatch)
