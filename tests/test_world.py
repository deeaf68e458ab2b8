"""The simulated account behind the sandbox provider and every emulator."""

from __future__ import annotations

import json
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from numbers_iac.simulation.world import (
    TYPE_MATCHES,
    NotForSale,
    NotOwned,
    NumberGroup,
    OutOfStock,
    UnknownApp,
    UnknownRegion,
    World,
    WorldError,
)

BUILTIN = World.builtin()


def small_world(stock: int = 5) -> World:
    group = NumberGroup(
        "fr-322", "FR", "local", "AMIENS, FRANCE", "322", stock, Decimal("0"), Decimal("0.80")
    )
    return World([group])


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("group", BUILTIN.groups, ids=lambda g: g.group_id)
def test_every_builtin_group_hands_out_valid_numbers_of_its_type(group):
    world = World.builtin()
    world.set_stock(group.group_id, 1000)  # look past the first few, even in small groups
    first, total = world.search(group.country, group.number_type, prefix=group.prefix, limit=5)
    deep, _ = world.search(group.country, group.number_type, prefix=group.prefix, offset=990)
    bought = world.buy_from_groups([world.group(group.group_id)], 3)
    assert total >= 1000
    assert len(first) == 5 and len(deep) == 10
    for number in [a.number for a in first + deep] + [b.number for b in bought]:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number_for_region(parsed, group.country), number
        assert phonenumbers.number_type(parsed) in TYPE_MATCHES[group.number_type], number
        assert phonenumbers.national_significant_number(parsed).startswith(group.prefix)
        assert number == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def test_builtin_catalogue_covers_the_promised_countries_and_prices():
    countries = {g.country for g in BUILTIN.groups}
    assert {"US", "GB", "FR", "DE", "AU"} <= countries
    assert all(g.region for g in BUILTIN.groups if g.number_type == "local")
    assert any(g.stock <= 5 for g in BUILTIN.groups), "out-of-stock tests need a small group"
    assert not any(g.regulated for g in BUILTIN.groups)
    for country in countries:
        local = [
            g.monthly for g in BUILTIN.groups if g.country == country and g.number_type == "local"
        ]
        dearer = [
            g.monthly
            for g in BUILTIN.groups
            if g.country == country and g.number_type in ("mobile", "tollfree")
        ]
        assert dearer and min(dearer) > max(local), country


def test_us_numbers_skip_exchanges_that_cannot_exist():
    world = World.builtin()
    (number,) = world.buy_from_groups(world.find_groups("US", "local", "San Francisco"), 1)
    # 415-0xx and 415-1xx exchanges are invalid in the NANP: the first sellable one is 415-2xx
    assert number.number.startswith("+14152")
    assert phonenumbers.number_type(phonenumbers.parse(number.number)) in (
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.FIXED_LINE,
    )


# --------------------------------------------------------------------------- finding groups


def test_region_matches_case_insensitively_and_by_city():
    assert [g.prefix for g in BUILTIN.find_groups("fr", "local", "amiens")] == ["322"]
    assert [g.prefix for g in BUILTIN.find_groups("FR", "local", "Amiens, France")] == ["322"]


def test_prefix_matches_in_both_directions():
    assert [g.prefix for g in BUILTIN.find_groups("US", "local", prefix="4155")] == ["415"]
    assert {g.prefix for g in BUILTIN.find_groups("FR", "local", prefix="4")} == {"472", "491"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("FR", "local", "Atlantis"), ["FR", "local", "Atlantis"]),
        (("ZZ", "local"), ["ZZ"]),
        (("US", "mobile"), ["US", "mobile"]),
        (("FR", "local", None, "999"), ["prefix 999"]),
    ],
)
def test_unknown_region_names_what_was_asked(args, words):
    with pytest.raises(UnknownRegion) as caught:
        BUILTIN.find_groups(*args)
    for word in words:
        assert word in str(caught.value)


def test_capabilities_filter_groups():
    assert BUILTIN.find_groups("US", "local", capabilities=("mms",))
    with pytest.raises(UnknownRegion, match="mms"):
        BUILTIN.find_groups("GB", "local", capabilities=("mms",))


# --------------------------------------------------------------------------- stock


def test_buying_decrements_stock_and_running_out_raises_with_what_is_left():
    world = small_world(stock=3)
    group = world.groups[0]
    world.buy_from_groups([group], 2)
    assert group.stock == 1
    with pytest.raises(OutOfStock) as caught:
        world.buy_from_groups([group], 2)
    assert caught.value.available == 1
    assert len(world.numbers) == 2, "a refused purchase buys nothing"


def test_partial_purchase_takes_what_is_left_and_never_more_than_asked():
    world = small_world(stock=3)
    assert len(world.buy_from_groups(world.groups, 10, allow_partial=True)) == 3
    assert world.groups[0].stock == 0
    assert world.search("FR", "local") == ([], 0)

    world = small_world(stock=50)
    assert len(world.buy_from_groups(world.groups, 7, allow_partial=True)) == 7
    assert [kind for kind, _ in world.log] == ["buy"] * 7


def test_quantity_purchases_skip_numbers_owned_or_taken():
    world = small_world(stock=10)
    ahead = world.search("FR", "local", limit=3)[0]
    world.buy(ahead[1].number)
    world.take(ahead[2].number)
    bought = world.buy_from_groups(world.groups, 5)
    numbers = [b.number for b in bought]
    assert ahead[1].number not in numbers and ahead[2].number not in numbers
    assert len(set(numbers)) == 5
    assert world.groups[0].stock == 10 - 1 - 1 - 5


def test_large_stock_is_generated_lazily():
    world = World.builtin()
    world.set_stock("us-local-415", 5_000_000)
    found, total = world.search("US", "local", "san francisco", limit=20, offset=40_000)
    assert total == 5_000_000
    assert len(found) == 20
    sequence = world._sequences[("us-local-415", "415")]
    assert len(sequence.seqs) < 50_000, "only what the page needed was generated"


# --------------------------------------------------------------------------- search


def test_search_pages_concatenate_to_one_listing_without_duplicates():
    world = World.builtin()
    everything, total = world.search("FR", "local", limit=210)
    pages = []
    for offset in range(0, 210, 30):
        page, page_total = world.search("FR", "local", limit=30, offset=offset)
        assert page_total == total
        pages.extend(a.number for a in page)
    assert pages == [a.number for a in everything]
    assert len(set(pages)) == 210
    assert total == sum(g.stock for g in world.find_groups("FR", "local"))


def test_search_excludes_numbers_bought_since():
    world = small_world(stock=10)
    first, _ = world.search("FR", "local", limit=3)
    world.buy(first[0].number)
    after, total = world.search("FR", "local", limit=3)
    assert first[0].number not in [a.number for a in after]
    assert total == 9


def test_search_with_a_longer_prefix_only_returns_that_block():
    found, _ = BUILTIN.search("US", "local", prefix="4155", limit=5)
    assert len(found) == 5
    assert all(a.number.startswith("+14155") for a in found)


@settings(max_examples=25, deadline=None)
@given(offset=st.integers(0, 400), limit=st.integers(1, 40))
def test_search_pages_agree_with_the_full_listing(offset, limit):
    full = [a.number for a in BUILTIN.search("FR", "local", limit=500)[0]]
    page = [a.number for a in BUILTIN.search("FR", "local", limit=limit, offset=offset)[0]]
    assert page == full[offset : offset + limit]


# --------------------------------------------------------------------------- specific numbers


def test_buy_specific_number_refuses_taken_owned_and_invalid_numbers():
    world = small_world(stock=10)
    found, _ = world.search("FR", "local", limit=2)
    world.take(found[0].number)
    with pytest.raises(NotForSale, match="taken"):
        world.buy(found[0].number)
    world.buy(found[1].number)
    with pytest.raises(NotForSale, match="already owned"):
        world.buy(found[1].number)
    with pytest.raises(NotForSale, match="not in any block"):
        world.buy("+33612345678")
    with pytest.raises(NotForSale):
        world.buy("not a number")


def test_buy_specific_number_refused_when_group_sold_out():
    world = small_world(stock=1)
    found, _ = world.search("FR", "local", limit=2)
    world.buy_from_groups(world.groups, 1)
    with pytest.raises(NotForSale, match="out of stock"):
        world.buy("+33322000005")
    assert found


def test_price_of_owned_and_for_sale_numbers():
    world = World.builtin()
    available = world.search("FR", "tollfree", limit=1)[0][0]
    assert world.price_of(available.number) == (available.group.setup, available.group.monthly)
    owned = world.buy(available.number)
    assert world.price_of(owned.number) == (owned.setup, owned.monthly)
    with pytest.raises(NotForSale):
        world.price_of("+33299999999")  # Rennes: not in the catalogue


# --------------------------------------------------------------------------- owned numbers


def test_update_changes_only_the_fields_given():
    world = small_world()
    app = world.add_app("ivr")
    (number,) = world.buy_from_groups(world.groups, 1, app_id=app)
    world.update(number.number, alias="support", labels={"team": "a"})
    world.update(number.number, labels={"team": "b"})
    owned = world.numbers[number.number]
    assert (owned.app_id, owned.alias, owned.labels) == (app, "support", {"team": "b"})
    world.update(number.number, app_id=None)
    assert world.numbers[number.number].alias == "support"
    assert world.numbers[number.number].app_id is None
    assert world.log[-1] == ("bind", number.number)
    with pytest.raises(UnknownApp):
        world.update(number.number, app_id="nope")
    with pytest.raises(NotOwned):
        world.update("+33322999999", alias="x")


def test_release_removes_the_number_and_a_second_release_is_not_owned():
    world = small_world()
    (number,) = world.buy_from_groups(world.groups, 1)
    world.release(number.number)
    assert world.owned() == ([], 0)
    assert world.log[-1] == ("release", number.number)
    with pytest.raises(NotOwned):
        world.release(number.number)


def test_owned_pages_are_stable_filtered_and_follow_changes():
    world = World.from_seed({"owned": 60})
    pages = []
    for offset in range(0, 60, 7):
        page, total = world.owned(offset, 7)
        assert total == 60
        pages.extend(n.number for n in page)
    assert pages == sorted(world.numbers)

    first = pages[0]
    assert world.owned(alias="sales") == ([], 0)
    world.update(first, alias="sales")
    assert [n.number for n in world.owned(alias="sales")[0]] == [first]
    assert world.owned(startswith="+33")[1] == world.owned(startswith="33")[1] > 0
    assert all(n.number_type == "mobile" for n in world.owned(number_type="mobile")[0])
    world.release(first)
    assert world.owned(alias="sales") == ([], 0)
    assert world.owned()[1] == 59
    with pytest.raises(TypeError):
        world.owned(colour="red")


def test_regulated_purchases_are_pending_until_activated():
    world = World.from_seed({"regulated": ["DE"]})
    (german,) = world.buy_from_groups(world.find_groups("DE", "local", "Berlin"), 1)
    (french,) = world.buy_from_groups(world.find_groups("FR", "local", "Paris"), 1)
    assert (german.status, french.status) == ("pending", "active")
    world.activate(german.number)
    assert world.numbers[german.number].status == "active"


# --------------------------------------------------------------------------- seeding


def test_seed_owned_count_spreads_over_the_catalogue_and_spares_small_groups():
    world = World.from_seed({"owned": 45, "apps": ["support-ivr", "sales"]})
    assert len(world.numbers) == 45
    assert len({n.group_id for n in world.numbers.values()}) > 10
    assert world.group("us-local-907").stock == BUILTIN.group("us-local-907").stock
    assert sorted(world.apps.values()) == ["sales", "support-ivr"]
    assert world.log == []


def test_seed_specific_numbers_with_alias_and_app():
    number = BUILTIN.search("GB", "local", "London", limit=1)[0][0].number
    world = World.from_seed(
        {
            "apps": ["support-ivr"],
            "owned": [{"number": number, "alias": "support", "app": "support-ivr"}],
        }
    )
    owned = world.numbers[number]
    assert owned.alias == "support"
    assert world.apps[owned.app_id] == "support-ivr"


def test_seed_with_custom_catalogue():
    world = World.from_seed(
        {
            "catalogue": [
                {
                    "group_id": "g",
                    "country": "FR",
                    "number_type": "mobile",
                    "region": None,
                    "prefix": "6",
                    "stock": 4,
                    "setup": "1",
                    "monthly": "2.5",
                }
            ],
            "owned": 0,
        }
    )
    assert world.search("FR", "mobile")[1] == 4
    with pytest.raises(UnknownRegion):
        world.find_groups("US")


def test_app_ids_are_unique_and_deterministic():
    first, second = World.builtin(), World.builtin()
    ids = [first.add_app("a"), first.add_app("a")]
    assert len(set(ids)) == 2
    assert first.app_by_name("a") == ids
    assert second.add_app("a") == ids[0]
    assert second.add_app("b", app_id="custom") == "custom"


# --------------------------------------------------------------------------- persistence


def _busy_world() -> World:
    world = World.from_seed({"owned": 12, "apps": ["ivr"], "regulated": ["AU"]})
    app = world.app_by_name("ivr")[0]
    number = next(iter(world.numbers))
    world.update(number, alias="support", labels={"team": "care"}, app_id=app)
    world.take(world.search("FR", "mobile", limit=1)[0][0].number)
    world.set_stock("us-local-907", 1)
    world.buy_from_groups(world.find_groups("AU", "mobile"), 1)
    return world


def test_save_and_load_round_trip_is_lossless(tmp_path):
    world = _busy_world()
    path = tmp_path / "nested" / "account.json"
    world.save(path)
    loaded = World.load(path)
    assert loaded.to_dict() == world.to_dict()
    assert [p.name for p in path.parent.iterdir()] == ["account.json"], "no temp file left"
    raw = json.loads(path.read_text())
    assert isinstance(raw["groups"][0]["monthly"], str)

    # the cursors survived: both hand out the same next numbers, and never an earlier one
    group = "fr-mobile-6"
    assert [n.number for n in loaded.buy_from_groups([loaded.group(group)], 3)] == [
        n.number for n in world.buy_from_groups([world.group(group)], 3)
    ]
    taken = sorted(world.taken)
    assert sorted(loaded.taken) == taken
    assert not set(taken) & set(loaded.numbers)


def test_save_replaces_the_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "account.json"
    small_world().save(path)
    before = path.read_text()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("numbers_iac.simulation.world.os.replace", explode)
    world = small_world()
    world.buy_from_groups(world.groups, 1)
    with pytest.raises(OSError):
        world.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["account.json"]


def test_load_reports_an_unreadable_file(tmp_path):
    path = tmp_path / "account.json"
    path.write_text("{not json")
    with pytest.raises(WorldError, match="account.json"):
        World.load(path)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda row: row.rsplit(",", 1)[0] + "]", "damaged"),  # a row one value short
        (lambda row: "null", "damaged"),
        (lambda row: row.replace('"0.', '"zero.', 1), "damaged"),  # a price not a number
    ],
    ids=["short-row", "null-row", "bad-price"],
)
def test_a_damaged_account_file_is_named_never_a_crash(tmp_path, damage, words):
    path = tmp_path / "account.json"
    World.from_seed({"owned": 3}).save(path)
    lines = path.read_text().splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.startswith("["))
    body = lines[row].rstrip("\n").rstrip(",")
    tail = "," if lines[row].rstrip("\n").endswith(",") else ""
    lines[row] = damage(body) + tail + "\n"
    path.write_text("".join(lines))
    with pytest.raises(WorldError, match=f"account.json is {words}"):
        World.load(path)


def test_an_account_file_of_a_newer_format_is_refused_by_name(tmp_path):
    path = tmp_path / "account.json"
    World.from_seed({"owned": 2}).save(path)
    path.write_text(path.read_text().replace('"format":2', '"format":3', 1))
    with pytest.raises(WorldError, match="account.json was written by a newer numbers-iac"):
        World.load(path)


def _format_1(world: World, indent: int | None) -> str:
    """The account file as versions before format 2 wrote it: one object per number."""
    return json.dumps({**world.to_dict(), "format": 1}, indent=indent, separators=(",", ":"))


@pytest.mark.parametrize("indent", [None, 1], ids=["compact", "indented"])
def test_an_account_file_written_before_rows_still_loads(tmp_path, indent):
    world = _busy_world()
    path = tmp_path / "account.json"
    path.write_text(_format_1(world, indent))
    assert World.load(path).to_dict() == world.to_dict()


def test_the_file_holds_one_row_per_number_and_odd_text_survives(tmp_path):
    world = _busy_world()
    first, second = sorted(world.numbers)[:2]
    world.update(first, alias='x],\n[y "z"', labels={"\u00fc\u2028": "],\n"})
    world.update(second, alias='"numbers":[')
    path = tmp_path / "account.json"
    world.save(path)
    lines = path.read_text().split("\n")
    rows = lines[lines.index('"numbers":[') + 1 : lines.index("],")]
    assert [json.loads(row.removesuffix(","))[0] for row in rows] == sorted(world.numbers)
    assert json.loads(path.read_text())["format"] == 2
    assert World.load(path).to_dict() == world.to_dict()


def test_an_account_file_reformatted_by_hand_still_loads(tmp_path):
    world = _busy_world()
    path = tmp_path / "account.json"
    world.save(path)
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2))
    assert World.load(path).to_dict() == world.to_dict()


def test_a_truncated_account_file_is_reported(tmp_path):
    path = tmp_path / "account.json"
    World.from_seed({"owned": 30}).save(path)
    text = path.read_text()
    path.write_text(text[: len(text) * 2 // 3])
    with pytest.raises(WorldError, match="account.json"):
        World.load(path)


def test_loaded_numbers_share_the_values_they_repeat(tmp_path):
    """At 100,000 numbers one copy of "0.50" or "NEW YORK" per number cost 90 MB."""
    world = World.from_seed({"owned": 80})
    for number in sorted(world.numbers)[:3]:
        world.update(number, alias="support")
    path = tmp_path / "account.json"
    world.save(path)
    loaded = World.load(path)
    alike = [n for n in loaded.numbers.values() if n.group_id == "us-local-415"]
    assert len(alike) > 1
    for field in ("region", "monthly", "setup", "capabilities", "added_on", "group_id"):
        assert len({id(getattr(n, field)) for n in alike}) == 1, field
    assert all(loaded.numbers[number].number is number for _, number in loaded.log[:3])
