"""Where lendsim's language-neutral data lives: ``contracts/`` and ``scenarios/``.

In an installed wheel they are inside the package, at
``simulator/_data/<name>`` (``pyproject.toml`` force-includes them there); in
a checkout or an editable install they are ``<repo>/<name>``, next to the
``simulator/`` package. The packaged location is looked at first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["DataFolder", "contract_path", "data_path"]

DataFolder = Literal["contracts", "scenarios"]
_FOLDERS: tuple[DataFolder, ...] = ("contracts", "scenarios")
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # simulator/, above core/


def _candidates(name: DataFolder, package_dir: Path) -> tuple[Path, Path]:
    return package_dir / "_data" / name, package_dir.parent / name


def _locate(name: DataFolder, package_dir: Path) -> Path:
    if name not in _FOLDERS:
        raise ValueError(f"data folder must be one of {', '.join(_FOLDERS)} (got {name!r})")
    candidates = _candidates(name, package_dir)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = " and ".join(str(candidate) for candidate in candidates)
    raise FileNotFoundError(f"lendsim's {name}/ folder is missing (looked in {looked}); "
                            "reinstall lendsim")


def data_path(name: DataFolder) -> Path:
    """The folder holding lendsim's ``contracts`` or ``scenarios``."""
    return _locate(name, _PACKAGE_DIR)


def contract_path(filename: str) -> Path:
    """The contract document ``filename`` (``scenario.schema.json``, ``bank.openapi.json``)."""
    if not filename or Path(filename).name != filename or filename in (".", ".."):
        raise ValueError(f"contract must be a file name like scenario.schema.json "
                         f"(got {filename!r})")
    folder = data_path("contracts")
    path = folder / filename
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file())) or "none"
        raise FileNotFoundError(f"no contract {filename!r} in {folder} (there are: {known})")
    return path
