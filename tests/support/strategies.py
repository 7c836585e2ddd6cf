"""Hypothesis strategies shared by the test suite, in one place."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

# -- virtual time ---------------------------------------------------------------

#: Offsets from a world's start, from zero to a year, whole seconds; small
#: values are frequent so that same-instant ties are common.
offsets = st.one_of(
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=365 * 86_400),
).map(lambda seconds: timedelta(seconds=seconds))

#: Lists of ``(offset, label)`` events to schedule, labels unique by position.
scheduled_events = st.lists(offsets, max_size=40).map(
    lambda found: [(offset, f"e{index}") for index, offset in enumerate(found)]
)

# -- calendars ------------------------------------------------------------------

#: Dates of three centuries around the present, leap days and the 1900/2100 non-leap
#: centuries included.
calendar_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))

#: Whole months either way, up to fifty years.
month_offsets = st.integers(min_value=-600, max_value=600)

#: Dates under today's US daylight-saving rule (in force since 2007) and Shanghai's UTC+8.
dst_rule_dates = st.dates(min_value=date(2007, 1, 1), max_value=date(2037, 12, 31))

# -- money ----------------------------------------------------------------------

#: Loan principals in minor units: one fen up to ten million yuan.
principals = st.integers(min_value=1, max_value=1_000_000_000)

#: Realistic principals (at least 100.00) for the numpy-financial cross-checks.
realistic_principals = st.integers(min_value=10_000, max_value=1_000_000_000)

#: Yearly rates from 0 to 36% in basis points, as Decimal fractions.
annual_rates = st.integers(min_value=0, max_value=3_600).map(lambda bp: Decimal(bp) / 10_000)

#: Strictly positive yearly rates, for formulas that divide by the rate.
positive_annual_rates = st.integers(min_value=1, max_value=3_600).map(
    lambda bp: Decimal(bp) / 10_000
)

#: Loan terms in months, up to 30 years.
loan_months = st.integers(min_value=1, max_value=360)

#: Consumer loan terms: up to a year, as the scenario library lends.
consumer_loan_months = st.integers(min_value=1, max_value=12)

methods = st.sampled_from(["equal_installment", "equal_principal"])

#: Exact amounts of minor units with up to four decimals, either sign (what a formula such as
#: penalty interest produces before it is rounded); halves are frequent.
unrounded_amounts = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12).map(lambda n: Decimal(n) + Decimal("0.5")),
    st.decimals(min_value=-10**12, max_value=10**12, places=4, allow_nan=False,
                allow_infinity=False),
)

# -- personal data --------------------------------------------------------------

#: 18-character Chinese resident ID numbers: 17 digits and a digit or X check character.
cn_id_numbers = st.builds(
    lambda body, check: body + check,
    st.text(alphabet="0123456789", min_size=17, max_size=17),
    st.sampled_from("0123456789X"),
)

#: Text that separates words in a log line without touching a number.
separators = st.text(alphabet=" \t\n,.;:()[]{}=/'\"，。：；（）", min_size=1, max_size=3)

#: Words made of letters only (no digits, no hyphens), Latin or CJK.
words = st.text(alphabet="abcxyzABCXYZ张三丰李四身份证号码用户", max_size=8)

#: Arbitrary surrounding text, CJK included: what a real log line may hold.
any_text = st.text(max_size=12)

# -- journal ----------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=10),
)

#: Field names the journal reads an entry's reference from (see simulator.engine.journal).
REFERENCE_FIELDS = frozenset(
    {"ref", "payment_id", "account", "loan_id", "borrower", "business_date"}
)

#: JSON-shaped journal payloads (field names are valid keyword arguments; reference
#: field names are left out, their values must be plain text — tested separately).
journal_fields = st.dictionaries(
    st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True).filter(
        lambda name: name not in REFERENCE_FIELDS
    ),
    st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    ),
    max_size=4,
)
