"""Masking of personal data in names, ID numbers, phone numbers and free text."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from simulator.core.privacy import mask_id_number, mask_name, mask_phone, redact
from tests.support.strategies import any_text, cn_id_numbers, separators, words

ID = "110101199003071234"
ID_X = "11010119900307123X"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        pytest.param("张三丰", "张**", id="cjk-three"),
        pytest.param("李四", "李*", id="cjk-two"),
        pytest.param("欧阳娜娜", "欧***", id="cjk-compound-surname"),
        pytest.param("Jane Doe", "J*******", id="latin-with-space"),
        pytest.param("O'Brien", "O******", id="latin-apostrophe"),
        pytest.param("X", "X", id="single-character"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    """A name keeps its first character; every other character becomes ``*``."""
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("id_number", "masked"),
    [
        pytest.param(ID, "1101**********1234", id="cn-18-digits"),
        pytest.param(ID_X, "1101**********123X", id="cn-trailing-X"),
        pytest.param("110101900307123", "1101*******7123", id="cn-15-digits"),
        pytest.param("123-45-6789", "123-***6789", id="us-ssn"),
        pytest.param("12345678", "********", id="too-short-to-keep-ends"),
    ],
)
def test_mask_id_number(id_number: str, masked: str) -> None:
    """An ID number keeps its first 4 and last 4 characters, or nothing when that short."""
    assert mask_id_number(id_number) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        pytest.param("13812345678", "138****5678", id="cn-mobile"),
        pytest.param("138 1234 5678", "138****5678", id="cn-mobile-grouped"),
        pytest.param("212-555-0199", "212***0199", id="us-dashed"),
        pytest.param("(212) 555-0199", "212***0199", id="us-parenthesised"),
        pytest.param("1234567", "*******", id="too-short-to-keep-ends"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    """A phone number keeps its first 3 and last 4 digits; punctuation is dropped."""
    assert mask_phone(phone) == masked


@given(id_number=cn_id_numbers)
def test_masked_id_hides_the_birth_date(id_number: str) -> None:
    """A masked 18-character ID shows only its first 4 and last 4 characters."""
    masked = mask_id_number(id_number)
    assert len(masked) == 18
    assert masked == id_number[:4] + "*" * 10 + id_number[-4:]


# -- redact ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        pytest.param(f"borrower id {ID} paid", "borrower id 1101**********1234 paid",
                     id="cn-id"),
        pytest.param(f"id={ID_X}.", "id=1101**********123X.", id="cn-id-trailing-X"),
        pytest.param("id=11010119900307123x,", "id=1101**********123x,",
                     id="cn-id-trailing-lowercase-x"),
        pytest.param("call 13812345678 now", "call 138****5678 now", id="cn-mobile"),
        pytest.param("call 138 1234 5678 now", "call 138****5678 now", id="cn-mobile-grouped"),
        pytest.param("tel: 212-555-0199", "tel: 212***0199", id="us-phone-dashed"),
        pytest.param("ssn 123-45-6789;", "ssn ***-**-6789;", id="us-ssn"),
        pytest.param(f"({ID})", "(1101**********1234)", id="in-parentheses"),
    ],
)
def test_redact_masks_personal_numbers(text: str, redacted: str) -> None:
    """IDs keep their first and last 4, phones their first 3 and last 4, SSNs their last 4."""
    assert redact(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("due 2026-02-01, paid 2026/02/01 or 20260201", id="dates"),
        pytest.param("at 2026-02-01T21:05:00+08:00", id="iso-instant"),
        pytest.param("at 21:05 and 09:30:15", id="times"),
        pytest.param("paid 12000.00 of ¥1,234,567.89 ($ 5,000.00)", id="amounts"),
        pytest.param("amount=1200000 minor units", id="seven-digit-minor-units"),
        pytest.param("sms code 123456, zip 100101", id="six-digit-numbers"),
        pytest.param("period 2026-02 installment 3 of 12", id="period"),
        pytest.param("loan L-20260101-0001 for alice, b0001", id="handles"),
    ],
)
def test_redact_leaves_other_numbers_alone(text: str) -> None:
    """Dates, times, amounts, short numbers and scenario handles pass through unchanged."""
    assert redact(text) == text


def test_redact_masks_every_occurrence() -> None:
    """Each personal number in a line is masked, not only the first."""
    text = f"{ID} / 13812345678 / {ID_X}"
    assert redact(text) == "1101**********1234 / 138****5678 / 1101**********123X"


@given(id_number=cn_id_numbers, before=words, gap1=separators, gap2=separators, after=words)
def test_redact_hides_ids_between_separators(
    id_number: str, before: str, gap1: str, gap2: str, after: str
) -> None:
    """An ID set off by spaces or punctuation never survives ``redact`` whole."""
    text = before + gap1 + id_number + gap2 + after
    assert id_number not in redact(text)


@given(id_number=cn_id_numbers, before=any_text, after=any_text)
@example(id_number=ID, before="身份证号", after="的用户")
def test_redact_never_leaves_an_18_digit_id_visible(
    id_number: str, before: str, after: str
) -> None:
    """Whatever text surrounds an 18-character ID, ``redact`` never leaves it whole."""
    assert id_number not in redact(before + id_number + after)


def test_redact_masks_phone_in_chinese_text() -> None:
    """A mobile number written straight after Chinese text is masked."""
    assert "13812345678" not in redact("请致电13812345678联系")


def test_redact_hides_most_of_an_ssn() -> None:
    """A redacted SSN shows at most its last four digits."""
    visible = re.sub(r"\D", "", redact("SSN 123-45-6789"))
    assert visible in {"", "6789"}


@given(text=st.text(alphabet="0123456789-: .,/", max_size=30))
def test_redact_keeps_length_of_unmasked_text(text: str) -> None:
    """Masking replaces characters one for one: the text keeps its length."""
    assert len(redact(text)) == len(text)
