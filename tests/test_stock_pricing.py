"""Pricing a plan, over the sandbox and the Plivo emulator: stock is checked in total per
location, and every provider-side problem of a plan (unknown region, prefix, app, a pinned
number not for sale) is reported in one run, each on its own located line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from numbers_iac import engine
from numbers_iac.config.loader import load_config
from numbers_iac.errors import ConfigError, UnknownRegionError
from numbers_iac.model import Desired, Where
from numbers_iac.providers.base import InventoryRow, for_sale_hint
from numbers_iac.state.sqlite import SqliteStateStore
from tests.providers.test_contract import HARNESSES, Harness, make

PROVIDER = {
    # no `apps:` setting: the harness's account has the apps, and the plan (not the config
    # check) must find an unknown one
    "sandbox": "  {name}:\n    type: sandbox\n",
    "plivo": "  {name}:\n    type: plivo\n    auth_id: MAEXAMPLE0000000001\n    auth_token: t\n",
}


#: providers whose catalogue publishes stock, prices and prefixes, which these scenarios need
#: (Aculab publishes none of them: its unknown regions are tested by the contract suite)
STOCKED = sorted(kind for kind in HARNESSES if kind in PROVIDER)


@pytest.fixture(params=STOCKED)
def harness(request) -> Iterator[Harness]:
    yield from make(request.param)


def load(h: Harness, tmp_path: Path, numbers: str) -> Desired:
    """A real configuration file for the harness's provider, so problems carry lines."""
    config = tmp_path / "numbers.yaml"
    provider = PROVIDER[h.name].format(name=h.config.name)
    config.write_text(
        "version: 1\nproviders:\n" + provider + "numbers:\n" + numbers.format(p=h.config.name)
    )
    return load_config(config)


def plan(h: Harness, desired: Desired, tmp_path: Path):
    with SqliteStateStore(tmp_path / "state.sqlite") as store:
        providers = engine.Providers(desired, lambda config: h.provider)  # the harness closes it
        return engine.make_plan(desired, providers, store)


def decl(name: str, quantity: int, **fields: str) -> str:
    body = {"provider": "{p}", "country": "FR", "type": "local", "quantity": quantity, **fields}
    return f"  {name}:\n" + "".join(f"    {k}: {v}\n" for k, v in body.items())


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------- stock


def test_two_declarations_on_one_location_are_checked_in_total(harness, tmp_path):
    numbers = decl("support-fr", 5000, region='"AMIENS, FRANCE"') + decl(
        "sales-fr", 2, region='"AMIENS, FRANCE"'
    )
    result = plan(harness, load(harness, tmp_path, numbers), tmp_path)
    stock = [w for w in result.warnings if "for sale" in w]
    assert len(stock) == 1, result.warnings
    (warning,) = stock
    assert "support-fr wants 5,000 and sales-fr 2" in warning
    assert "region AMIENS, FRANCE: 5,002 wanted, 900 for sale" in warning
    assert all(a.price is not None for a in result.actions)


def test_declarations_that_fit_alone_but_not_together_are_warned(harness, tmp_path):
    numbers = decl("support-fr", 600, region="Amiens") + decl("sales-fr", 600, region="AMIENS")
    result = plan(harness, load(harness, tmp_path, numbers), tmp_path)
    stock = [w for w in result.warnings if "for sale" in w]
    assert len(stock) == 1, result.warnings
    assert "1,200 wanted, 900 for sale" in stock[0]


def test_one_declaration_short_of_stock_is_warned_once(harness, tmp_path):
    result = plan(
        harness, load(harness, tmp_path, decl("support-fr", 1000, prefix='"322"')), tmp_path
    )
    stock = [w for w in result.warnings if "for sale" in w]
    assert len(stock) == 1 and "support-fr" in stock[0], result.warnings
    assert "1,000 wanted" in stock[0] and "900 for sale" in stock[0]


def test_enough_stock_for_all_is_not_warned(harness, tmp_path):
    numbers = decl("support-fr", 400, region="Amiens") + decl("sales-fr", 400, region="Amiens")
    result = plan(harness, load(harness, tmp_path, numbers), tmp_path)
    assert not [w for w in result.warnings if "for sale" in w], result.warnings


# --------------------------------------------------------------------------- problems


def test_every_provider_side_problem_is_reported_in_one_run(harness, tmp_path):
    taken, _ = harness.world.search("FR", "local", prefix="472", limit=1)
    harness.world.take(taken[0].number)
    numbers = (
        decl("atlantis", 1, region="Atlantis")
        + decl("bad-prefix", 1, prefix='"999"')
        + decl("no-app", 1, region="Lyon", app="no-such-app")
        + f'  pinned:\n    provider: {{p}}\n    numbers: ["{taken[0].number}"]\n'
        + decl("fine", 1, region="Paris")
    )
    desired = load(harness, tmp_path, numbers)
    text = (tmp_path / "numbers.yaml").read_text()
    with pytest.raises(ConfigError) as caught:
        plan(harness, desired, tmp_path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 4, lines
    expected = {
        "numbers.atlantis.region": ("region: Atlantis", "Atlantis"),
        "numbers.bad-prefix.prefix": ('prefix: "999"', "999"),
        "numbers.no-app.app": ("app: no-such-app", "no-such-app"),
        "numbers.pinned.numbers[0]": ("numbers: [", taken[0].number),
    }
    for path, (needle, named) in expected.items():
        (line,) = [entry for entry in lines if f" {path}: " in entry]
        assert line.startswith(f"{tmp_path / 'numbers.yaml'}:{line_of(text, needle)}:"), line
        assert named in line
    assert not [entry for entry in lines if "fine" in entry]


def test_problems_come_in_file_order(harness, tmp_path):
    numbers = decl("zeta", 1, region="Atlantis") + decl("alpha", 1, region="Lyon", app="nope")
    with pytest.raises(ConfigError) as caught:
        plan(harness, load(harness, tmp_path, numbers), tmp_path)
    lines = str(caught.value).splitlines()
    assert ["numbers.zeta.region" in lines[0], "numbers.alpha.app" in lines[1]] == [True, True]


def test_a_bad_prefix_is_answered_with_the_prefixes_for_sale(harness, tmp_path):
    with pytest.raises(ConfigError) as caught:
        plan(harness, load(harness, tmp_path, decl("bad", 1, prefix='"999"')), tmp_path)
    message = str(caught.value)
    assert "Prefixes for sale" in message, message
    for prefix in ("1 (PARIS, FRANCE)", "322 (AMIENS, FRANCE)", "472 (LYON, FRANCE)"):
        assert prefix in message


def test_region_names_with_commas_stay_readable(harness, tmp_path):
    with pytest.raises(ConfigError) as caught:
        plan(harness, load(harness, tmp_path, decl("bad", 1, region="Atlantis")), tmp_path)
    message = str(caught.value)
    regions = re.search(r"Regions for sale: (.*?)\. Run", message)
    assert regions, message
    assert regions.group(1).split("; ") == [
        "AMIENS, FRANCE",
        "LYON, FRANCE",
        "MARSEILLE, FRANCE",
        "PARIS, FRANCE",
    ]


def test_provider_quote_names_prefixes_for_a_bad_prefix(harness):
    with pytest.raises(UnknownRegionError) as caught:
        harness.provider.quote(Where("FR", "local", prefix="999"), 1)
    message = str(caught.value)
    assert "Prefixes for sale: 1 (PARIS, FRANCE); 322 (AMIENS, FRANCE)" in message, message
    assert f"numbers-iac inventory {harness.config.name} --country FR" in message


def test_a_region_that_exists_with_a_bad_prefix_names_that_region_s_prefixes(harness):
    with pytest.raises(UnknownRegionError) as caught:
        harness.provider.quote(Where("FR", "local", region="Amiens", prefix="999"), 1)
    message = str(caught.value)
    assert "Prefixes for sale" in message and "322 (AMIENS, FRANCE)" in message, message


def test_capabilities_no_number_has_are_answered_with_those_for_sale(harness):
    with pytest.raises(UnknownRegionError) as caught:
        harness.provider.quote(Where("FR", "local", capabilities=("mms",)), 1)
    assert "Capabilities for sale: voice." in str(caught.value), str(caught.value)


def test_long_lists_are_cut_and_say_how_many_more():
    rows = [
        InventoryRow("US", "local", f"TOWN {i:02}, UNITED STATES", str(200 + i), 10, None)
        for i in range(15)
    ]
    hint = for_sale_hint(Where("US", "local", region="Atlantis"), rows)
    assert hint.startswith("Regions for sale: TOWN 00, UNITED STATES; TOWN 01, UNITED STATES;")
    assert hint.endswith("TOWN 11, UNITED STATES; and 3 more")
