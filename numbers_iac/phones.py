"""Answers about numbers already written in E.164, fast enough for 100,000 at a time.

`phonenumbers` answers the same questions (which region, is it valid) for any text, through
layers of metadata lookups that cost tens of microseconds a number: seconds for a file of
100,000 pinned numbers or an account listing of that size. Here a canonical `+digits` number
is split at its calling code with a table, and its region and validity come from the same
metadata patterns compiled once per region, in the same order `phonenumbers` tries them, so
every answer equals `phonenumbers`' own. Anything else (a number with spaces or a national
prefix, a non-geographic code) gets `None`, and the caller asks `phonenumbers` as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

_CANONICAL = re.compile(r"\+([1-9][0-9]{1,16})")
_NON_GEO = "001"


@dataclass(frozen=True)
class NumberFacts:
    """What `phonenumbers` says of a canonical E.164 number: `region` as
    `region_code_for_number(parse(e164))` and `valid` as `is_valid_number`."""

    region: str | None
    valid: bool


def facts_of(e164: str) -> NumberFacts | None:
    """The region and validity of a canonical `+digits` number, or None when only a full
    `phonenumbers.parse` can tell (not canonical, or parsing would rewrite its digits)."""
    located = _located(e164)
    if located is None:
        return None
    region, nsn = located
    return NumberFacts(region, region is not None and _validator(region)(nsn))


def _located(e164: str) -> tuple[str | None, str] | None:
    """The region and national number of a canonical number, or None (see `facts_of`)."""
    match = _CANONICAL.fullmatch(e164)
    if match is None:
        return None
    split = _split(match.group(1))
    if split is None:
        return None
    regions, nsn = split
    if nsn[0] == "0" or _NON_GEO in regions or _strips_national_prefix(regions[0], nsn):
        return None  # leading zeros and national prefixes: parse's own rules apply
    if len(regions) == 1:
        return regions[0], nsn
    return next((r for r in regions if _belongs_to(r, nsn)), None), nsn


def country_of(e164: str) -> str | None:
    """The region of an E.164 number (as `phonenumbers.region_code_for_number` says), or
    None when it is not a phone number; the fast path when it is canonical (no validation
    where the calling code has one region)."""
    located = _located(e164)
    if located is not None:
        return located[0]
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None


def calling_code_and_national(e164: str) -> tuple[str, str] | None:
    """`+33322000001` as ("33", "322000001"): the calling code and the national significant
    digits, split where `phonenumbers` splits them; None when it is not `+digits`."""
    match = _CANONICAL.fullmatch(e164)
    if match is None:
        return None
    digits = match.group(1)
    split = _split(digits)
    if split is None:
        return None
    national = split[1]
    return digits[: len(digits) - len(national)], national


def prefix_digits(prefix: str, country: str) -> str:
    """A declared prefix as the digits that follow the calling code in the number:
    "+33 3 22", "+33 (0)3 22", "0322" and "322" are 322 in France; Italy's "06" stays 06
    (its numbers keep the 0: Italy has no trunk prefix to drop), and so does Rwanda's
    "+250 06" (after the calling code, only a "(0)" is a trunk)."""
    international, digits = written_prefix(prefix)
    if international:
        return digits.removeprefix(str(phonenumbers.country_code_for_region(country.upper())))
    return without_trunk(digits, country)


def written_prefix(prefix: str) -> tuple[bool, str]:
    """A prefix's digits as written, and whether they start with the calling code ("+33 3
    22"). Written so, a "(0)" is the trunk some write inside it ("+44 (0)20"), left out."""
    international = prefix.strip().startswith("+")
    text = prefix.replace("(0)", "") if international else prefix
    return international, "".join(ch for ch in text if ch.isdigit())


def without_trunk(digits: str, region: str) -> str:
    """National digits written after a trunk prefix of 0 ("0322" in France, "06 1" in
    Hungary, "+44 (0)20") without it, and only it: India's toll-free 000800 and Japan's
    00777 start with zeros that are digits of the number, so a trunk followed by another 0
    is kept. A trunk that is not a 0 (Russia's 8) is kept too: 812 is St Petersburg."""
    metadata = PhoneMetadata.metadata_for_region(region.upper())
    trunk = metadata.national_prefix if metadata is not None else None
    if trunk and trunk.startswith("0") and digits.startswith(trunk):
        rest = digits[len(trunk) :]
        return digits if rest.startswith("0") else rest
    return digits


def _split(digits: str) -> tuple[tuple[str, ...], str] | None:
    """The calling code's regions and the national number, as `phonenumbers` splits them."""
    for size in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
        if regions:
            nsn = digits[size:]
            return (tuple(regions), nsn) if len(nsn) >= 2 else None
    return None


@functools.cache
def _national_prefix(region: str) -> re.Pattern[str] | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    pattern = metadata.national_prefix_for_parsing if metadata else None
    return re.compile(pattern) if pattern else None


def _strips_national_prefix(main_region: str, nsn: str) -> bool:
    """Whether `parse` might strip a national prefix from these digits (it does so even after
    a +country code when both forms look like numbers): then only `parse` knows the result."""
    prefix = _national_prefix(main_region)
    return prefix is not None and prefix.match(nsn) is not None


@functools.cache
def _leading_digits(region: str) -> re.Pattern[str] | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    return re.compile(metadata.leading_digits) if metadata and metadata.leading_digits else None


def _belongs_to(region: str, nsn: str) -> bool:
    """`phonenumbers`' test for a calling code shared by regions: the region's leading digits
    when it has them, else a valid number there."""
    leading = _leading_digits(region)
    if leading is not None:
        return leading.match(nsn) is not None
    return _validator(region)(nsn)


_Rule = tuple[frozenset[int], re.Pattern[str]]


@functools.cache
def _validator(region: str) -> Callable[[str], bool]:
    """`_number_type_helper(nsn, metadata) != UNKNOWN` for one region, patterns compiled once:
    the general pattern, then any one number type's (mobile only where its pattern differs
    from the fixed line's, as there)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return lambda nsn: False
    general = _rule(metadata.general_desc)
    kinds = [
        metadata.fixed_line,
        None if metadata.same_mobile_and_fixed_line_pattern else metadata.mobile,
        metadata.toll_free,
        metadata.premium_rate,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    ]
    rules = [rule for rule in map(_rule, kinds) if rule is not None]

    def matches(rule: _Rule, nsn: str) -> bool:
        lengths, pattern = rule
        return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None

    def valid(nsn: str) -> bool:
        if general is None or not matches(general, nsn):
            return False
        return any(matches(rule, nsn) for rule in rules)

    return valid


def _rule(desc) -> _Rule | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)
