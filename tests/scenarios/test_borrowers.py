"""Generated borrowers: deterministic, valid-looking and unique personal data."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import pytest

from simulator.scenarios.borrowers import (
    _cn_tables,
    _name_pool,
    cn_id_check_character,
    default_personal_data,
    generate_borrowers,
)
from simulator.scenarios.model import Borrower, LoanTerms, Pays

LOAN = LoanTerms(500_000, Decimal("0.12"), 6, "equal_installment", date(2026, 1, 1))
PAYS = Pays("on_due_date")

CN_ID = re.compile(r"\d{6}(19[6-9]\d|200[0-5])(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]")
CN_PHONE = re.compile(r"1[3-9]\d{9}")
US_SSN = re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")
US_PHONE = re.compile(r"\d{3}-\d{3}-\d{4}")


@pytest.fixture(params=["CN", "US"])
def jurisdiction(request: pytest.FixtureRequest) -> str:
    """Each jurisdiction in turn."""
    code: str = request.param
    return code


def make_borrowers(count: int = 500, *, seed: int = 1, jurisdiction: str = "CN",
                   id_prefix: str = "b", start_index: int = 1,
                   taken: Iterable[str] = ()) -> list[Borrower]:
    """Borrowers with fixed loan terms: the factory the tests vary one argument of."""
    return generate_borrowers(count, seed=seed, jurisdiction=jurisdiction, loan=LOAN, pays=PAYS,
                              id_prefix=id_prefix, start_index=start_index, taken=taken)


def iso7064_mod_11_2_valid(id_number: str) -> bool:
    """The standard's own check: sum of digit × 2^(17-i) over all 18 characters ≡ 1 (mod 11)."""
    values = [10 if char == "X" else int(char) for char in id_number]
    return sum(value * 2 ** (17 - i) for i, value in enumerate(values)) % 11 == 1


def test_same_seed_same_borrowers(jurisdiction: str) -> None:
    """The same seed gives the same borrowers, field for field."""
    assert make_borrowers(seed=7, jurisdiction=jurisdiction) == make_borrowers(
        seed=7, jurisdiction=jurisdiction)


def test_different_seed_different_borrowers(jurisdiction: str) -> None:
    """Another seed gives other personal data (ids stay b0001, b0002, …)."""
    first = make_borrowers(seed=7, jurisdiction=jurisdiction)
    second = make_borrowers(seed=8, jurisdiction=jurisdiction)
    assert [b.id for b in first] == [b.id for b in second]
    assert [b.id_number for b in first] != [b.id_number for b in second]
    assert [b.name for b in first] != [b.name for b in second]


def test_ids_are_zero_padded_and_sequential() -> None:
    """Ids are the prefix and the index padded to at least 4 digits, all of one width."""
    assert [b.id for b in make_borrowers(3)] == ["b0001", "b0002", "b0003"]
    assert [b.id for b in make_borrowers(2, id_prefix="g", start_index=9999)] == [
        "g09999", "g10000"]


def test_loan_and_pays_are_shared() -> None:
    """Every generated borrower carries the given loan terms and repayment habit."""
    borrowers = make_borrowers(3)
    assert {b.loan for b in borrowers} == {LOAN}
    assert {b.pays for b in borrowers} == {PAYS}


def test_cn_personal_data_shape() -> None:
    """CN borrowers get Chinese names, 18-character resident IDs and mobile numbers."""
    for borrower in make_borrowers(2000, jurisdiction="CN"):
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", borrower.name), borrower.name
        assert CN_ID.fullmatch(borrower.id_number), borrower.id_number
        date.fromisoformat(f"{borrower.id_number[6:10]}-{borrower.id_number[10:12]}-"
                           f"{borrower.id_number[12:14]}")  # a real birth date
        assert CN_PHONE.fullmatch(borrower.phone), borrower.phone


def test_cn_id_check_digit_valid() -> None:
    """Every generated CN resident ID passes the ISO 7064 MOD 11-2 check."""
    borrowers = make_borrowers(5000, jurisdiction="CN")
    assert all(iso7064_mod_11_2_valid(b.id_number) for b in borrowers)
    assert any(b.id_number.endswith("X") for b in borrowers)  # the check can be X


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        pytest.param("11010519491231002", "X", id="gb11643-example"),
        pytest.param("44052418800101001", "4", id="digit"),
    ],
)
def test_cn_id_check_character(first17: str, check: str) -> None:
    """The check character matches published examples and the standard's own check."""
    assert cn_id_check_character(first17) == check
    assert iso7064_mod_11_2_valid(first17 + check)


def test_us_personal_data_shape() -> None:
    """US borrowers get English names, SSNs outside the never-issued areas and phone numbers."""
    for borrower in make_borrowers(2000, jurisdiction="US"):
        assert re.fullmatch(r"[A-Z][A-Za-z'-]+ [A-Z][A-Za-z'-]+", borrower.name), borrower.name
        assert US_SSN.fullmatch(borrower.id_number), borrower.id_number
        assert US_PHONE.fullmatch(borrower.phone), borrower.phone


def test_numbers_are_unique(jurisdiction: str) -> None:
    """No ID number or phone number is issued twice, so the bureau never merges two people."""
    borrowers = make_borrowers(20_000, jurisdiction=jurisdiction)
    assert len({b.id_number for b in borrowers}) == len(borrowers)
    assert len({b.phone for b in borrowers}) == len(borrowers)


def test_taken_numbers_are_not_issued(jurisdiction: str) -> None:
    """Numbers listed as taken are never issued, even when the seed would draw them."""
    drawn = make_borrowers(50, jurisdiction=jurisdiction)
    taken = {b.id_number for b in drawn} | {b.phone for b in drawn}
    again = make_borrowers(50, jurisdiction=jurisdiction, taken=taken)
    assert not taken & ({b.id_number for b in again} | {b.phone for b in again})


def test_default_personal_data_deterministic(jurisdiction: str) -> None:
    """A named borrower's default data depends only on the handle, the seed and the jurisdiction."""
    alice = default_personal_data("alice", 0, jurisdiction)
    assert alice == default_personal_data("alice", 0, jurisdiction)
    assert alice != default_personal_data("bob", 0, jurisdiction)
    assert alice != default_personal_data("alice", 1, jurisdiction)


def test_default_personal_data_shape() -> None:
    """Default personal data has the jurisdiction's formats."""
    cn = default_personal_data("alice", 0, "CN")
    assert CN_ID.fullmatch(cn.id_number) and iso7064_mod_11_2_valid(cn.id_number)
    assert CN_PHONE.fullmatch(cn.phone)
    us = default_personal_data("alice", 0, "US")
    assert US_SSN.fullmatch(us.id_number) and US_PHONE.fullmatch(us.phone)


def test_unknown_jurisdiction() -> None:
    """An unknown jurisdiction code is refused."""
    with pytest.raises(KeyError):
        make_borrowers(1, jurisdiction="FR")



@pytest.mark.parametrize("locale", ["zh_CN", "en_US"])
def test_name_pool_is_what_faker_draws(locale: str) -> None:
    """The pool of surnames and given names is what faker's own ``Faker(locale)``, seeded as
    the pool is, draws first: the same names in the same order (so the same borrowers)."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(20260101)
    surnames = tuple(dict.fromkeys(fake.last_name() for _ in range(600)))
    given = tuple(dict.fromkeys(fake.first_name() for _ in range(600)))
    assert _name_pool(locale) == (surnames, given)


def test_birth_dates_are_every_day_in_order() -> None:
    """The birth dates an ID number may carry are every day from 1960-01-01 to 2005-12-31,
    in order, each with its part of the check sum."""
    births = _cn_tables()[1]
    days = (date(2005, 12, 31) - date(1960, 1, 1)).days + 1
    assert [text for text, _ in births] == [
        (date(1960, 1, 1) + timedelta(days=n)).strftime("%Y%m%d") for n in range(days)]
    weights = [pow(2, 17 - i, 11) for i in range(6, 14)]
    assert all(total == sum(int(d) * w for d, w in zip(text, weights, strict=True))
               for text, total in births)
