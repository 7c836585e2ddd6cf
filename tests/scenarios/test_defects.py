"""The defect catalogue (README, "Defect catalogue"): exact names, validation, and the party
each lives in."""

from __future__ import annotations

import pytest

from simulator.core.errors import LendsimError, UnknownDefectError
from simulator.core.topology import PARTIES
from simulator.scenarios.defects import DEFECTS, validate_defects
from simulator.scenarios.model import INVARIANTS

#: README, "Defect catalogue", in its order (names are part of the interface).
CATALOGUE = (
    "bank.posts_by_receipt_time",
    "bank.reports_without_reconciliation",
    "bank.no_correction_on_late_arrival",
    "bank.utc_cutoff",
    "bank.ignores_holiday_shift",
    "bank.no_tolerance",
    "bank.ignores_idempotency_key",
    "bank.suppresses_delinquency",
    "platform.no_retry",
    "platform.new_key_per_retry",
    "platform.outbox_not_durable",
    "platform.reconciliation_omits_pending",
    "platform.value_time_is_send_time",
    "bureau.correction_ignored",
    "bureau.dispute_never_resolved",
)



@pytest.mark.parametrize("name", CATALOGUE)
def test_defect_lives_in_the_party_its_name_starts_with(name: str) -> None:
    """A defect's party is its name's prefix, one of the world's parties (whether the switch
    really changes behaviour is the defect matrix's to prove: tests/world/test_matrix.py)."""
    assert DEFECTS[name].party == name.split(".", 1)[0]
    assert DEFECTS[name].party in PARTIES


def test_catalogue_is_exactly_the_design() -> None:
    """The catalogue holds exactly the 15 defects of the README's table, in the same order."""
    assert len(DEFECTS) == 15
    assert tuple(DEFECTS) == CATALOGUE


@pytest.mark.parametrize("name", CATALOGUE)
def test_defect_describes_its_mistake(name: str) -> None:
    """Each defect says what the mistake is and which known invariants explain it."""
    defect = DEFECTS[name]
    assert defect.mistake.strip()
    assert defect.explained_by
    assert set(defect.explained_by) <= set(INVARIANTS)


def test_validate_sorts_and_deduplicates() -> None:
    """Valid names come back sorted, each once."""
    names = ["platform.no_retry", "bank.utc_cutoff", "platform.no_retry"]
    assert validate_defects(names) == ("bank.utc_cutoff", "platform.no_retry")
    assert validate_defects([]) == ()


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        pytest.param("bank.no_such_defect", "see `lendsim defects`", id="unknown"),
        pytest.param("no_tolerance", "did you mean bank.no_tolerance?", id="party-missing"),
        pytest.param("platform.no_tolerance", "did you mean bank.no_tolerance?",
                     id="wrong-party"),
        pytest.param("", "see `lendsim defects`", id="empty"),
    ],
)
def test_validate_rejects_unknown_name(name: str, hint: str) -> None:
    """An unknown defect is refused with a message naming it, where it came from, and a hint."""
    with pytest.raises(UnknownDefectError) as info:
        validate_defects(["bank.no_tolerance", name], where="--defect")
    message = str(info.value)
    assert message.startswith(f"--defect: unknown defect {name!r}")
    assert hint in message
    assert isinstance(info.value, LendsimError)


def test_validate_names_the_place() -> None:
    """The message starts with where the name was given (a scenario file, an option)."""
    with pytest.raises(UnknownDefectError, match=r"^scenarios/x\.yaml: unknown defect 'bank\.x'"):
        validate_defects(["bank.x"], where="scenarios/x.yaml")
