"""What the loader asks of a provider class: its purchase modes, its own declaration checks,
and the `settle_time` setting every provider accepts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from numbers_iac.cli import main
from numbers_iac.config import load_config
from numbers_iac.errors import ConfigError, Problem
from numbers_iac.model import QUANTITY, Declaration
from numbers_iac.providers import PROVIDER_TYPES
from numbers_iac.providers.base import Capabilities, Provider

MAX_PER_ORDER = 10


class QuantityOnlyProvider(Provider):
    """Buys N numbers in a place with one blind call, like Aculab: no specific numbers."""

    type_name = "aculab"
    capabilities = Capabilities(purchase_modes=(QUANTITY,))
    settings_keys = ("api_key",)

    @classmethod
    def validate_declaration(cls, declaration: Declaration) -> list[Problem]:
        if declaration.quantity <= MAX_PER_ORDER:
            return []
        where = declaration.located("quantity")
        assert where is not None
        return [
            Problem(
                where.file,
                where.line,
                where.column,
                f"numbers.{declaration.name}.quantity",
                f"aculab buys at most {MAX_PER_ORDER} numbers per order",
            )
        ]


class SpecificProvider(Provider):
    """Sells specific numbers (the default purchase mode)."""

    type_name = "callr"
    capabilities = Capabilities()
    settings_keys = ("login",)


@pytest.fixture(autouse=True)
def fake_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDER_TYPES, "aculab", f"{__name__}:QuantityOnlyProvider")
    monkeypatch.setitem(PROVIDER_TYPES, "callr", f"{__name__}:SpecificProvider")


HEADER = """\
version: 1
providers:
  ac:
    type: aculab
    api_key: k
  cr:
    type: callr
    login: me
numbers:
"""


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "numbers.yaml"
    path.write_text(header + textwrap.indent(textwrap.dedent(body), "  "))
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return caught.value.problems


# --------------------------------------------------------------------------- purchase modes

BOTH_MISTAKES = """\
pinned:
  provider: ac
  numbers: ["+33 3 22 00 00 01"]
bulk:
  provider: ac
  country: FR
  quantity: 50
"""


def test_pinned_numbers_on_a_provider_that_cannot_buy_them_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, BOTH_MISTAKES)
    [pinned, too_many] = problems_of(path)
    assert str(pinned) == (
        f"{path}:12:5: numbers.pinned.numbers: provider 'ac' (aculab) cannot buy specific "
        "numbers: remove numbers: or use quantity"
    )
    assert str(too_many) == (
        f"{path}:16:5: numbers.bulk.quantity: aculab buys at most 10 numbers per order"
    )


def test_validate_prints_both_problems_as_located_lines(tmp_path: Path) -> None:
    path = write(tmp_path, BOTH_MISTAKES)
    result = CliRunner().invoke(main, ["-c", str(path), "validate"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"error: {path}:12:5: numbers.pinned.numbers: provider 'ac' (aculab) cannot buy "
        "specific numbers: remove numbers: or use quantity",
        f"error: {path}:16:5: numbers.bulk.quantity: aculab buys at most 10 numbers per order",
    ]


def test_quantity_declarations_on_a_quantity_only_provider_load(tmp_path: Path) -> None:
    path = write(tmp_path, "bulk: {provider: ac, country: FR, quantity: 10}\n")
    assert load_config(path, env={}).declarations["bulk"].quantity == 10


def test_pinned_numbers_load_on_a_provider_that_sells_specific_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, 'hotline: {provider: cr, numbers: ["+33 3 22 00 00 01"]}\n')
    assert load_config(path, env={}).declarations["hotline"].pinned == ("+33322000001",)


def test_an_empty_pin_list_is_not_a_pin(tmp_path: Path) -> None:
    path = write(tmp_path, "bulk: {provider: ac, country: FR, quantity: 2, numbers: []}\n")
    assert load_config(path, env={}).declarations["bulk"].pinned == ()


# --------------------------------------------------------------------------- settle_time


def with_settle_time(tmp_path: Path, value: str) -> Path:
    header = HEADER.replace("api_key: k\n", f"api_key: k\n    settle_time: {value}\n")
    return write(tmp_path, "{}\n", header=header)


@pytest.mark.parametrize(
    ("written", "kept"),
    [("900", 900), ("0.5", 0.5), ("90s", "90s"), ("15m", "15m"), ('"1.5h"', "1.5h"), ("1d", "1d")],
)
def test_settle_time_is_accepted_by_every_provider(
    tmp_path: Path, written: str, kept: object
) -> None:
    desired = load_config(with_settle_time(tmp_path, written), env={})
    assert desired.providers["ac"].settings["settle_time"] == kept


def test_settle_time_may_come_from_the_environment(tmp_path: Path) -> None:
    path = with_settle_time(tmp_path, "${SETTLE}")
    desired = load_config(path, env={"SETTLE": "20m"})
    assert desired.providers["ac"].settings["settle_time"] == "20m"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("15 minutes", "'15 minutes': expected seconds, or a duration such as 90s, 15m or 1h"),
        ("15x", "'15x': expected seconds, or a duration such as 90s, 15m or 1h"),
        ("-1", "-1 is too small: the minimum is 0"),
        ("[15m]", "expected a number or text, got a list"),
        ("{m: 15}", "expected a number or text, got a mapping"),
    ],
)
def test_a_bad_settle_time_is_a_located_problem(tmp_path: Path, written: str, message: str) -> None:
    path = with_settle_time(tmp_path, written)
    [problem] = problems_of(path)
    assert (problem.path, problem.line, problem.column) == ("providers.ac.settle_time", 6, 18)
    assert problem.message == message


def test_a_bad_settle_time_from_the_environment_is_not_echoed(tmp_path: Path) -> None:
    path = with_settle_time(tmp_path, "${SETTLE}")
    [problem] = problems_of(path, env={"SETTLE": "sekrit-soon"})
    assert problem.path == "providers.ac.settle_time"
    assert "sekrit" not in problem.message


def test_unknown_settings_list_settle_time_among_the_accepted(tmp_path: Path) -> None:
    path = with_settle_time(tmp_path, "15m\n    settle: 1m")
    [problem] = problems_of(path)
    assert problem.message.startswith(
        "unknown setting 'settle' for a aculab provider (did you mean 'settle_time'?)"
    )
    assert "accepted: api_key, base_url, settle_time" in problem.message


@pytest.mark.parametrize("type_name", ["sandbox", "plivo"])
def test_the_real_adapters_accept_settle_time(tmp_path: Path, type_name: str) -> None:
    header = f"version: 1\nproviders:\n  p:\n    type: {type_name}\n    settle_time: 90s\n"
    path = write(tmp_path, "{}\n", header=header + "numbers:\n")
    assert load_config(path, env={}).providers["p"].settings["settle_time"] == "90s"
