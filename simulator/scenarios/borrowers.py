"""Generated borrowers: realistic-looking, deterministic and cheap personal data.

Names come from faker in the jurisdiction's locale (``zh_CN`` / ``en_US``),
but faker costs ~150 µs per profile, far too slow for 100,000 borrowers. So
faker fills a pool of surnames and given names once per locale (seeded, so
the pool is the same every run), and a :class:`random.Random` seeded from the
scenario combines pool entries and draws ID numbers and phone numbers:

* CN: an 18-character resident ID (6-digit area code, birth date
  ``YYYYMMDD``, 3-digit sequence, ISO 7064 MOD 11-2 check character) and a
  mobile number ``1[3-9]xxxxxxxxx``;
* US: an SSN ``AAA-GG-SSSS`` (area never 000, 666 or 9xx; group and serial
  never zero) and a phone number ``212-555-0123``.

Nothing depends on today's date (faker's ``ssn()`` does), and within one call
no ID number or phone number is issued twice, nor one listed in ``taken``.
"""

from __future__ import annotations

import calendar
import functools
import importlib
import random
from collections.abc import Callable, Iterable
from datetime import date
from typing import NamedTuple

from simulator.core.calendars import jurisdiction as jurisdiction_profile
from simulator.core.rng import derive_seed
from simulator.scenarios.model import Borrower, LoanTerms, Pays

__all__ = ["PersonalData", "cn_id_check_character", "default_personal_data", "generate_borrowers"]

#: How many surnames and given names are drawn from faker for each pool.
_POOL_DRAWS = 600
#: The pool is the same in every run and for every scenario seed.
_POOL_SEED = 20260101

# ISO 7064 MOD 11-2 as GB 11643 applies it: weights 2^(17-i) mod 11 over the
# 17 leading digits; the check character for a weighted sum S is
# _CN_CHECK[S % 11].
_CN_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CN_CHECK = "10X98765432"

# County-level area codes (GB/T 2260) of a few large cities' central districts.
_CN_AREAS = (
    "110101", "110105", "120101", "310101", "310104", "320102", "330106", "350102",
    "370102", "420102", "430102", "440103", "440305", "500103", "510104", "610103",
)
_CN_BIRTH_FIRST, _CN_BIRTH_LAST = date(1960, 1, 1), date(2005, 12, 31)

_US_AREA_CODES = (
    "212", "213", "305", "312", "404", "415", "503", "512",
    "602", "617", "646", "702", "713", "718", "206", "303",
)


class PersonalData(NamedTuple):
    """A borrower's personal data; print it only through :mod:`simulator.core.privacy`."""

    name: str
    id_number: str
    phone: str


def cn_id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character (``0``–``9`` or ``X``) of a CN resident ID."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _CN_WEIGHTS, strict=True))
    return _CN_CHECK[total % 11]


def _weighted(text: str, offset: int) -> int:
    return sum(int(digit) * _CN_WEIGHTS[offset + i] for i, digit in enumerate(text))


@functools.cache
def _cn_tables() -> tuple[
    tuple[tuple[str, int], ...], tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]
]:
    """(area, birth date, sequence) fragments with their weighted-sum contributions."""
    areas = tuple((area, _weighted(area, 0)) for area in _CN_AREAS)
    # Every day from the first birth date to the last, in order, its text and sum built
    # from year, month and day parts (a third of a second less than a date per day).
    months = [(f"{month:02d}", _weighted(f"{month:02d}", 10)) for month in range(1, 13)]
    days = [(f"{day:02d}", _weighted(f"{day:02d}", 12)) for day in range(1, 32)]
    births = tuple(
        (f"{year_text}{month_text}{day_text}", year_sum + month_sum + day_sum)
        for year in range(_CN_BIRTH_FIRST.year, _CN_BIRTH_LAST.year + 1)
        for year_text, year_sum in ((str(year), _weighted(str(year), 6)),)
        for month, (month_text, month_sum) in enumerate(months, start=1)
        for day_text, day_sum in days[:calendar.monthrange(year, month)[1]]
    )
    sequences = tuple((f"{n:03d}", _weighted(f"{n:03d}", 14)) for n in range(1, 1000))
    return areas, births, sequences


@functools.cache
def _name_pool(locale: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(surnames, given names) drawn once from faker, first-seen order, no repeats.

    Only faker's person provider of the locale is set up (what ``Faker(locale)`` would
    use for names, weighted as it weights them): the same names, without building
    two dozen other providers."""
    from faker import Generator  # slow to import: only when names are needed

    provider_class = importlib.import_module(f"faker.providers.person.{locale}").Provider
    fake = Generator()
    provider = provider_class(fake)
    provider.__use_weighting__ = True  # as faker's own Faker(locale)
    fake.add_provider(provider)
    fake.seed_instance(_POOL_SEED)
    surnames = dict.fromkeys(provider.last_name() for _ in range(_POOL_DRAWS))
    given = dict.fromkeys(provider.first_name() for _ in range(_POOL_DRAWS))
    return tuple(surnames), tuple(given)


_Draw = Callable[[], tuple[str, str, str]]


def _cn_source(rng: random.Random, used: set[str]) -> _Draw:
    surnames, given = _name_pool("zh_CN")
    areas, births, sequences = _cn_tables()
    rnd = rng.random
    n_surnames, n_given, n_areas, n_births, n_sequences = (
        len(surnames), len(given), len(areas), len(births), len(sequences))

    def draw() -> tuple[str, str, str]:
        name = surnames[int(rnd() * n_surnames)] + given[int(rnd() * n_given)]
        while True:
            area, area_sum = areas[int(rnd() * n_areas)]
            birth, birth_sum = births[int(rnd() * n_births)]
            sequence, sequence_sum = sequences[int(rnd() * n_sequences)]
            check = _CN_CHECK[(area_sum + birth_sum + sequence_sum) % 11]
            id_number = f"{area}{birth}{sequence}{check}"
            if id_number not in used:
                break
        while True:
            phone = f"1{3 + int(rnd() * 7)}{int(rnd() * 1_000_000_000):09d}"
            if phone not in used:
                break
        used.add(id_number)
        used.add(phone)
        return name, id_number, phone

    return draw


@functools.cache
def _us_tables() -> tuple[tuple[str, ...], ...]:
    """SSN areas (never 000, 666 or 9xx), groups, serials; phone exchanges and lines."""
    return (
        tuple(f"{n:03d}" for n in range(1, 900) if n != 666),
        tuple(f"{n:02d}" for n in range(1, 100)),
        tuple(f"{n:04d}" for n in range(1, 10_000)),
        tuple(f"{n:03d}" for n in range(200, 1000)),
        tuple(f"{n:04d}" for n in range(10_000)),
    )


def _us_source(rng: random.Random, used: set[str]) -> _Draw:
    surnames, given = _name_pool("en_US")
    areas, groups, serials, exchanges, lines = _us_tables()
    rnd = rng.random
    n_surnames, n_given, n_area_codes = len(surnames), len(given), len(_US_AREA_CODES)
    n_areas, n_groups, n_serials, n_exchanges, n_lines = (
        len(areas), len(groups), len(serials), len(exchanges), len(lines))

    def draw() -> tuple[str, str, str]:
        name = f"{given[int(rnd() * n_given)]} {surnames[int(rnd() * n_surnames)]}"
        while True:
            ssn = (f"{areas[int(rnd() * n_areas)]}-{groups[int(rnd() * n_groups)]}-"
                   f"{serials[int(rnd() * n_serials)]}")
            if ssn not in used:
                break
        while True:
            phone = (f"{_US_AREA_CODES[int(rnd() * n_area_codes)]}-"
                     f"{exchanges[int(rnd() * n_exchanges)]}-{lines[int(rnd() * n_lines)]}")
            if phone not in used:
                break
        used.add(ssn)
        used.add(phone)
        return name, ssn, phone

    return draw


_SOURCES: dict[str, Callable[[random.Random, set[str]], _Draw]] = {
    "CN": _cn_source,
    "US": _us_source,
}


def _source(jurisdiction: str, rng: random.Random, used: set[str]) -> _Draw:
    profile = jurisdiction_profile(jurisdiction)  # KeyError for an unknown code
    return _SOURCES[profile.code](rng, used)


def generate_borrowers(
    count: int,
    *,
    seed: int,
    jurisdiction: str,
    loan: LoanTerms,
    pays: Pays,
    id_prefix: str = "b",
    start_index: int = 1,
    taken: Iterable[str] = (),
) -> list[Borrower]:
    """``count`` borrowers ``b0001``, ``b0002``, … sharing ``loan`` and ``pays``.

    Ids are ``id_prefix`` and the index from ``start_index``, zero-padded to
    at least 4 digits (all of one call to the same width). The same
    arguments always give the same list. ``taken`` lists ID numbers and
    phone numbers already in use, which are never issued again.
    """
    if count < 0:
        raise ValueError(f"count must be at least 0 (got {count})")
    draw = _source(jurisdiction, random.Random(seed), set(taken))
    width = max(4, len(str(start_index + count - 1)))
    return [
        Borrower(f"{id_prefix}{index:0{width}d}", *draw(), loan, pays)
        for index in range(start_index, start_index + count)
    ]


def default_personal_data(
    handle: str, seed: int, jurisdiction: str, *, taken: Iterable[str] = ()
) -> PersonalData:
    """Personal data for a named borrower (``alice``) whose scenario gives none.

    Depends only on the handle, the scenario seed and the jurisdiction, so a
    borrower keeps the same name and numbers when others are added (unless
    a number drawn is in ``taken``: then the next draw is used).
    """
    rng = random.Random(derive_seed(seed, f"borrower:{handle}"))
    return PersonalData(*_source(jurisdiction, rng, set(taken))())
