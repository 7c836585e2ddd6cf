"""Finding the contracts/ and scenarios/ folders in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

import simulator
from simulator.core import locator
from simulator.core.locator import contract_path, data_path

REPO = Path(simulator.__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["contracts", "scenarios"])
def test_checkout_folders(name: locator.DataFolder) -> None:
    """In a checkout the data folders are the repository's own, next to simulator/."""
    assert data_path(name) == REPO / name


def test_contract_path() -> None:
    """A contract is found by its file name."""
    path = contract_path("scenario.schema.json")
    assert path == REPO / "contracts" / "scenario.schema.json"
    assert path.is_file()


def test_packaged_location_wins(tmp_path: Path) -> None:
    """In an installed wheel simulator/_data/<name> is used even if <name> sits next to it."""
    package = tmp_path / "simulator"
    (package / "_data" / "contracts").mkdir(parents=True)
    (tmp_path / "contracts").mkdir()
    assert locator._locate("contracts", package) == package / "_data" / "contracts"


def test_checkout_location_used_without_packaged(tmp_path: Path) -> None:
    """Without simulator/_data the folder next to the package is used."""
    package = tmp_path / "simulator"
    package.mkdir()
    (tmp_path / "scenarios").mkdir()
    assert locator._locate("scenarios", package) == tmp_path / "scenarios"


def test_missing_folder(tmp_path: Path) -> None:
    """A data folder found in neither place is an error naming both places."""
    package = tmp_path / "simulator"
    package.mkdir()
    with pytest.raises(FileNotFoundError, match=r"_data.contracts.* and .*contracts"):
        locator._locate("contracts", package)


def test_unknown_folder() -> None:
    """Only contracts and scenarios are data folders."""
    with pytest.raises(ValueError, match="must be one of contracts, scenarios"):
        data_path("bench")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "filename",
    [
        pytest.param("../pyproject.toml", id="parent"),
        pytest.param("sub/scenario.schema.json", id="subfolder"),
        pytest.param("", id="empty"),
        pytest.param("..", id="dot-dot"),
    ],
)
def test_contract_path_takes_names_only(filename: str) -> None:
    """A contract is named by its file name only, never a path out of contracts/."""
    with pytest.raises(ValueError, match="must be a file name"):
        contract_path(filename)


def test_unknown_contract() -> None:
    """An unknown contract is an error listing the contracts there are."""
    with pytest.raises(FileNotFoundError, match=r"scenario\.schema\.json"):
        contract_path("nope.json")
