"""`phones` answers what `phonenumbers` answers, for every calling code, or declines."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from numbers_iac.phones import country_of, facts_of


def _samples() -> list[str]:
    """Every region's example numbers, their one-digit variants, and random digits."""
    rnd = random.Random(23)
    out: list[str] = []
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in (0, 1, 2, 3, 4):
                example = phonenumbers.example_number_for_type(region, kind)
                if example is None:
                    continue
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                out.append(e164)
                digits = list(e164)
                digits[rnd.randrange(2, len(digits))] = rnd.choice("0123456789")
                out.append("".join(digits))
        for _ in range(3):
            out.append(f"+{code}{rnd.randrange(10**5, 10**10)}")
    return out


def test_facts_equal_phonenumbers_answers():
    answered = 0
    for e164 in _samples():
        facts = facts_of(e164)
        if facts is None:
            continue
        answered += 1
        parsed = phonenumbers.parse(e164)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == e164
        expected = (
            phonenumbers.region_code_for_number(parsed),
            phonenumbers.is_valid_number(parsed),
        )
        assert (facts.region, facts.valid) == expected, e164
    assert answered > 1000  # the fast path answers most canonical numbers


@pytest.mark.parametrize(
    "text",
    ["+33 3 22 00 00 01", "0322000001", "+8001234567", "+44 07700 900123", "", "+", "+0123"],
)
def test_what_only_a_full_parse_can_tell_is_declined(text):
    assert facts_of(text) is None


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+12025550123", "US"),
        ("+14165550123", "CA"),
        ("+33322000001", "FR"),
        ("+441212345678", "GB"),
    ],
)
def test_country_of(number, country):
    assert country_of(number) == country


def test_country_of_text_that_is_no_number():
    assert country_of("not a number") is None


@pytest.mark.parametrize(
    ("prefix", "country", "digits"),
    [
        ("0322", "FR", "322"),
        ("+33 (0)3 22", "FR", "322"),
        ("322", "FR", "322"),
        ("06", "IT", "06"),
        ("+39 06", "IT", "06"),
        ("06 1", "HU", "1"),
        ("000800", "IN", "000800"),
        ("1800", "IN", "1800"),
        ("00777", "JP", "00777"),
        ("0120", "JP", "120"),
        ("812", "RU", "812"),
        ("+250 06", "RW", "06"),  # after the calling code, only "(0)" is a trunk
        ("+44 (0)20", "GB", "20"),
    ],
)
def test_a_prefix_is_sent_as_the_digits_the_numbers_start_with(prefix, country, digits):
    """What every provider is asked for: a trunk prefix is dropped once, and only a trunk
    prefix, so Indian and Japanese toll-free ranges that start with zeros keep them."""
    from numbers_iac.phones import prefix_digits

    assert prefix_digits(prefix, country) == digits


@pytest.mark.parametrize(
    ("number", "prefix", "fits"),
    [
        ("+14155550100", "415", True),
        ("+16415550100", "415", False),  # 641: the digits 415 further in are no prefix
        ("+33322000001", "3", True),
        ("+33322000001", "2", False),
        ("+33322000001", "0322", True),  # a trunk 0 is no digit of the number
        ("+33322000001", "+33 3 22", True),
        ("+33322000001", "+44 3", False),
        ("+442012345678", "+44 (0)20", True),
        ("+447520123456", "20", False),
        ("+390612345678", "06", True),  # Italy keeps its leading 0 in the number itself
        ("+390212345678", "06", False),
        ("+3612345678", "06 1", True),  # Hungary's trunk is 06
        ("+3612345678", "61", False),
        ("+9100080012345678", "000800", True),  # India's toll-free: its zeros are digits
        ("+8100777012345", "00777", True),  # Japan's 00777: the same
        ("+390612345678", "6", True),  # leading zeros are not held against a number held
        ("+25006003280", "06", True),  # Rwanda: a trunk 0, and numbers that start with 06
        ("+25006003280", "+250 06", True),
        ("+78121234567", "812", True),  # Russia's trunk is 8, and 812 is St Petersburg
    ],
)
def test_a_prefix_is_where_the_national_number_starts(number, prefix, fits):
    """The one test of "is this number of that prefix" that recovering a blind order,
    proposing a move and warning about a changed prefix all use."""
    from numbers_iac.providers.base import fits_prefix

    assert fits_prefix(number, prefix) is fits
