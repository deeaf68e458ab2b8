"""The MessageMedia adapter over its emulator (in-process, through httpx's WSGI transport):
listing in the fewest requests, purchases through the core's protocol (409s, lost and late
answers), native labels and metadata, both authentication schemes, a 504 storm, the
declaration checks, and ownership surviving a lost state file."""

from __future__ import annotations

import json
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from numbers_iac import engine
from numbers_iac.config import load_config
from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import emulated
from numbers_iac.errors import (
    AuthError,
    ConfigError,
    NumberUnavailableError,
    OutcomeUnknownError,
    UnknownRegionError,
)
from numbers_iac.model import (
    PENDING,
    SPECIFIC,
    Account,
    Adopt,
    Attempt,
    Declaration,
    Desired,
    ProviderConfig,
    StateConfig,
    Where,
)
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.messagemedia import MessageMediaProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore
from tests.protocol import run_purchase
from tests.providers.catalogues import ROME

AMIENS = Where("FR", "local", prefix="322")
AU_MOBILE = Where("AU", "mobile", capabilities=("sms",))
SECRET = "mm-secret-s3cr3t"


def no_sleep(seconds: float) -> None:
    """Retries must not slow the suite."""


def account(world: World, **settings):
    options = settings.pop("emulator", {})
    return emulated(
        "messagemedia",
        world,
        name="mm",
        sleep=no_sleep,
        settings={"api_secret": SECRET, **settings},
        auth_token=SECRET,
        **options,
    )


def buy(provider, count=1, where=AMIENS, labels=None, options=None, pinned=()):
    request = PurchaseRequest(
        "support",
        count,
        None if pinned else where,
        tuple(pinned),
        tag="support",
        labels=labels or {},
        options=options or {},
    )
    return run_purchase(provider, request)


def buys(world: World) -> list[str]:
    return [number for op, number in world.log if op == "buy"]


def listing_requests(emu) -> int:
    return len(emu.app.requests("GET", "/assignments"))


# --------------------------------------------------------------------------- listing


def test_ten_thousand_numbers_are_listed_in_a_hundred_requests():
    world = World.from_seed({"owned": 10_000})
    with account(world) as emu:
        listed = emu.provider.list_numbers()
        assert len(listed) == 10_000 == len({n.provider_id for n in listed})
        assert {n.number for n in listed} == set(world.numbers)
        assert listing_requests(emu) == 100  # pages of 100: the most the API allows


def test_four_pages_of_assigned_numbers():
    world = World.from_seed({"owned": 350})
    with account(world) as emu:
        progress: list[int] = []
        listed = emu.provider.list_numbers(lambda done, total: progress.append(done))
        assert len(listed) == 350 and listing_requests(emu) == 4
        assert progress == [100, 200, 300, 350]


def test_numbers_are_normalised_to_e164_with_or_without_plus():
    world = World.from_seed({"owned": 3})
    with account(world, emulator={"with_plus": False}) as emu:
        assert {n.number for n in emu.provider.list_numbers()} == set(world.numbers)
        bought = buy(emu.provider).bought
        assert bought[0].number.startswith("+333")


# --------------------------------------------------------------------------- purchases


def test_a_purchase_carries_label_and_metadata_in_the_same_call():
    world = World.from_seed({})
    with account(world) as emu:
        outcome = buy(emu.provider, 2, labels={"team": "support", "site": "amiens"})
        assert outcome.error is None and len(outcome.bought) == 2
        assert len(emu.app.requests("POST")) == 2 and not emu.app.requests("PATCH")
        for owned in emu.provider.list_numbers():
            assert owned.tag == "support"
            assert owned.labels == {"team": "support", "site": "amiens"}
            assert world.numbers[owned.number].alias == "support"


def test_a_409_on_a_taken_number_buys_another():
    world = World.from_seed({})
    with account(world) as emu:
        offered = emu.provider.offer(
            PurchaseRequest("support", 1, AMIENS, tag="support"), 1, frozenset()
        )
        first = offered.candidates[0].number
        emu.app.add(Fault(status=None, match="POST ", on_request=lambda m, p: world.take(first)))
        outcome = buy(emu.provider, 1)
        assert outcome.error is None
        assert [r.status for r in emu.app.requests("POST")] == [409, 201]
        assert outcome.bought[0].number != first and buys(world) == [outcome.bought[0].number]
        # the 409 was checked against the assigned list before another number was tried
        assert emu.app.requests("GET", "/assignments")


def test_a_409_for_a_number_already_ours_is_adopted_not_lost():
    """The assignment happened (the answer says 409, as a repeated POST would): the
    assigned list shows it, so it counts as bought and nothing else is bought."""
    world = World.from_seed({})
    with account(world) as emu:
        emu.app.add(Fault(status=409, then_fail=True, match="POST ", body={"message": "Conflict"}))
        outcome = buy(emu.provider, 1)
        assert outcome.error is None and len(buys(world)) == 1
        assert [n.number for n in outcome.bought] == buys(world)


def test_only_numbers_that_fit_the_declaration_are_offered():
    world = World.from_seed({})
    with account(world) as emu:
        request = PurchaseRequest(
            "support", 3, Where("FR", "local", prefix="322"), options={"class": "bronze"}
        )
        offer = emu.provider.offer(request, 3, frozenset())
        assert offer.count == 3
        assert all(c.number.startswith("+33322") for c in offer.candidates)
        assert {c.record["classification"] for c in offer.candidates} == {"BRONZE"}
        patterned = PurchaseRequest("p", 2, AU_MOBILE, options={"pattern": "0400"})
        for candidate in emu.provider.offer(patterned, 2, frozenset()).candidates:
            assert "0400" in candidate.number
        search = emu.app.requests("GET", "/dedicated")
        assert search and not buys(world)


def test_pinned_numbers_are_bought_by_their_ids():
    world = World.from_seed({})
    wanted = [a.number for a in world.search("AU", "mobile", limit=2)[0]]
    with account(world) as emu:
        outcome = buy(emu.provider, 2, pinned=wanted)
        assert outcome.error is None and buys(world) == wanted


def test_a_lost_answer_is_read_back_from_the_assigned_list():
    world = World.from_seed({})
    with account(world) as emu:
        emu.app.add(Fault(status=502, then_fail=True, match="POST "))
        outcome = buy(emu.provider, 1, labels={"team": "a"})
        assert outcome.error is None and len(outcome.bought) == 1 == len(buys(world))


def test_a_lost_answer_that_cannot_be_read_back_is_unknown_then_recovered():
    world = World.from_seed({})
    with account(world, max_retries=1) as emu:
        offer = emu.provider.offer(PurchaseRequest("s", 1, AMIENS, tag="s"), 1, frozenset())
        (candidate,) = offer.candidates
        emu.app.add(Fault(status=500, then_fail=True, match="POST "))
        emu.app.add(Fault(status=504, times=100, match="GET "))
        with pytest.raises(OutcomeUnknownError):
            emu.provider.commit(offer.single(candidate))
        emu.app.clear()
        listed = Account("mm", emu.provider.list_numbers())
        attempt = Attempt(
            1, "mm", "s", SPECIFIC, 1, "2026-01-01T00:00:00+00:00", (candidate.number,)
        )
        (found,) = emu.provider.recover([attempt], listed)
        assert [n.number for n in found.produced] == [candidate.number] and found.settled


def test_an_answer_after_the_timeout_is_unknown_then_adopted():
    """Over a socket, the assignment lands after the client gave up: unknown, never a
    refusal, and the listing shows it later."""
    world = World.from_seed({})
    with emulated(
        "messagemedia",
        world,
        name="mm",
        over_socket=True,
        sleep=no_sleep,
        settings={"timeout": 0.3, "max_retries": 0},
    ) as emu:
        offer = emu.provider.offer(PurchaseRequest("s", 1, AMIENS, tag="s"), 1, frozenset())
        (candidate,) = offer.candidates
        emu.app.add(Fault(status=None, delay=1.0, match="POST "))
        with pytest.raises(OutcomeUnknownError):
            emu.provider.commit(offer.single(candidate))
        deadline = time.monotonic() + 5
        while not buys(world):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        listed = Account("mm", emu.provider.list_numbers())
        attempt = Attempt(
            1, "mm", "s", SPECIFIC, 1, "2026-01-01T00:00:00+00:00", (candidate.number,)
        )
        (found,) = emu.provider.recover([attempt], listed)
        assert [n.tag for n in found.produced] == ["s"]


def test_us_toll_free_numbers_are_pending_until_verified():
    world = World.from_seed({})
    with account(world) as emu:
        outcome = buy(emu.provider, 1, where=Where("US", "tollfree"))
        assert [n.status for n in outcome.bought] == [PENDING]
        assert [n.status for n in emu.provider.list_numbers()] == [PENDING]
        world.activate(outcome.bought[0].number)
        assert [n.status for n in emu.provider.list_numbers()] == ["active"]


def test_region_is_not_a_search_and_unknown_places_are_clear():
    world = World.from_seed({})
    with account(world) as emu:
        with pytest.raises(UnknownRegionError, match="cannot search by region"):
            emu.provider.quote(Where("FR", "local", region="AMIENS, FRANCE"), 1)
        with pytest.raises(UnknownRegionError, match="no numbers for sale"):
            emu.provider.quote(Where("FR", "local", prefix="55"), 1)
        assert emu.provider.quote(AMIENS, 2).price is None  # the API publishes no price
        taken = world.search("AU", "mobile", limit=1)[0][0].number
        world.take(taken)
        with pytest.raises(NumberUnavailableError):
            emu.provider.quote_numbers([taken])
        rows = emu.provider.inventory("AU")
        assert {r.number_type for r in rows} == {"local", "mobile", "tollfree"}


# --------------------------------------------------------------------------- labels, release


def test_labels_and_metadata_round_trip_and_patch_sends_the_whole_map():
    world = World.from_seed({})
    with account(world) as emu:
        bought = buy(emu.provider, 1, labels={"team": "a", "site": "x"}).bought
        owned = emu.provider.list_numbers()[0]
        outcome = emu.provider.set_labels([(owned, "support", {"team": "b"})])
        assert outcome.done == (owned.number,)
        listed = emu.provider.list_numbers()[0]
        assert listed.labels == {"team": "b"} and listed.tag == "support"  # replaced
        assert world.numbers[bought[0].number].labels == {"team": "b"}


def test_labels_work_when_patch_answers_204():
    world = World.from_seed({})
    with account(world, emulator={"patch_status": 204}) as emu:
        buy(emu.provider, 1)
        owned = emu.provider.list_numbers()[0]
        assert not emu.provider.set_labels([(owned, "support", {"k": "v"})]).failed
        assert emu.provider.list_numbers()[0].labels == {"k": "v"}


def test_release_then_release_again_and_no_app_binding():
    world = World.from_seed({})
    with account(world) as emu:
        buy(emu.provider, 2)
        owned = emu.provider.list_numbers()
        assert set(emu.provider.release(owned).done) == {n.number for n in owned}
        assert world.numbers == {}
        assert set(emu.provider.release(owned).done) == {n.number for n in owned}  # 404
        assert emu.provider.bind(owned, None).done
        assert set(emu.provider.bind(owned, "app").failed) == {n.number for n in owned}
        assert "45 days" in emu.provider.release_warnings()[0]


# --------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize(
    ("settings", "seen"),
    [
        ({}, "basic"),
        ({"auth": "hmac"}, "hmac-sha1"),
        ({"auth": "hmac", "hmac_algorithm": "hmac-sha256"}, "hmac-sha256"),
    ],
)
def test_basic_and_hmac_auth(settings, seen):
    world = World.from_seed({"owned": 2})
    with account(world, **settings) as emu:
        assert len(emu.provider.list_numbers()) == 2
        assert buy(emu.provider, 1, labels={"k": "v"}).error is None
        assert set(emu.emulator.auth_log) == {seen}


@pytest.mark.parametrize("settings", [{}, {"auth": "hmac"}])
def test_wrong_secret_is_one_clear_error_without_the_secret(settings):
    world = World.from_seed({})
    with account(world, **settings) as emu:
        emu.emulator.api_secret = "the-real-one"
        with pytest.raises(AuthError) as err:
            emu.provider.list_numbers()
        message = str(err.value)
        assert "401" in message and "Invalid authentication credentials" in message
        assert SECRET not in message


def test_survives_a_504_storm():
    world = World.from_seed({"owned": 250})
    with account(world) as emu:
        emu.app.add(
            Fault(
                status=504,
                times=6,
                body={"message": "Request to numbers service timed out, please try again later"},
            )
        )
        assert len(emu.provider.list_numbers()) == 250
        assert sum(1 for r in emu.app.log if r.status == 504) == 6
        assert listing_requests(emu) == 3 + 6


def test_a_504_on_a_purchase_is_checked_never_resent():
    world = World.from_seed({})
    with account(world, max_retries=2) as emu:
        emu.app.add(Fault(status=504, times=1, match="POST "))
        emu.app.add(Fault(status=504, times=100, match="GET /v1/messaging/numbers/dedicated/as"))
        outcome = buy(emu.provider, 1)
        assert outcome.unresolved and buys(world) == []
        assert len(emu.app.requests("POST")) == 1


def test_region_setting_picks_the_api_root():
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        return httpx.Response(200, json={"data": [], "pagination": {"next_token": None}})

    for region, host in (("apac", "api.messagemedia.com"), ("eu", "eu.app.api.sinch.com")):
        config = ProviderConfig(
            "mm", "messagemedia", {"api_key": "k", "api_secret": "s", "region": region}
        )
        with MessageMediaProvider(config, transport=httpx.MockTransport(answer)) as provider:
            assert provider.list_numbers() == ()
        assert seen[-1] == host


# --------------------------------------------------------------------------- configuration

CONFIG = """\
version: 1
providers:
  mm:
    type: messagemedia
    api_key: key
    api_secret: secret
numbers:
"""


def load(tmp_path: Path, numbers: str):
    path = tmp_path / "numbers.yaml"
    path.write_text(CONFIG + textwrap.indent(textwrap.dedent(numbers), "  "))
    return load_config(path, env={})


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ("app: ivr", "has no app binding: remove app"),
        ("labels: {a: '1', b: '2', c: '3', d: '4', e: '5', f: '6'}", "at most 5 labels"),
        (f"labels: {{{'k' * 101}: v}}", "metadata keys hold at most 100"),
        (f"labels: {{k: {'v' * 257}}}", "metadata values hold at most 256"),
        ("class: platinum", "class must be one of bronze, silver, gold"),
        ("pattern: 04x", "pattern must be digits"),
        ("pattern: 0400", "write pattern in quotes"),
        ("region: Sydney", "cannot search by region"),
        ("type: national", "does not sell national numbers"),
    ],
)
def test_what_messagemedia_cannot_store_fails_validation_naming_the_declaration(
    tmp_path, declaration, expected
):
    with pytest.raises(ConfigError) as err:
        load(
            tmp_path,
            f"""\
            support-au:
              provider: mm
              country: AU
              quantity: 1
              {declaration}
            """,
        )
    assert expected in str(err.value) and "numbers.support-au" in str(err.value)


def test_a_declaration_name_longer_than_a_label_fails_validation(tmp_path):
    name = "n" * 101
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"{name}:\n  provider: mm\n  country: AU\n  type: mobile\n")
    assert f"numbers.{name}" in str(err.value) and "at most 100" in str(err.value)


def test_a_valid_declaration_loads(tmp_path):
    desired = load(
        tmp_path,
        """\
        support-au:
          provider: mm
          country: AU
          type: mobile
          quantity: 2
          class: bronze
          pattern: "0400"
          labels: {team: support}
        """,
    )
    assert desired.declarations["support-au"].options == {"class": "bronze", "pattern": "0400"}


# --------------------------------------------------------------------------- a lost state


def desired_for(config: ProviderConfig, *declarations: Declaration) -> Desired:
    return Desired(
        config_path="numbers.yaml",
        config_digest="mm",
        providers={config.name: config},
        declarations={d.name: d for d in declarations},
        state=StateConfig(),
    )


def converge(provider, desired: Desired, store, allow_release: bool = False):
    providers = engine.Providers(desired, lambda config: provider)
    plan = engine.make_plan(desired, providers, store)
    if plan.actions:
        report = engine.apply_plan(plan, desired, providers, store, allow_release=allow_release)
        assert report.ok
    return plan


def test_ownership_survives_a_lost_state_file():
    world = World.from_seed({"owned": 2})  # unmanaged numbers stay unmanaged
    with account(world) as emu, tempfile.TemporaryDirectory() as tmp:
        declarations = (
            Declaration("support", "mm", 2, "FR", "local", prefix="322", labels={"team": "a"}),
            Declaration("sales", "mm", 1, "AU", "mobile", capabilities=("sms",)),
        )
        desired = desired_for(emu.provider.config, *declarations)
        with SqliteStateStore(Path(tmp) / "state.sqlite") as store:
            converge(emu.provider, desired, store)
            assert (
                engine.make_plan(
                    desired, engine.Providers(desired, lambda c: emu.provider), store
                ).actions
                == ()
            )
        with SqliteStateStore(Path(tmp) / "fresh.sqlite") as fresh:  # the state file is gone
            plan = converge(emu.provider, desired, fresh)
            assert plan.actions and all(isinstance(a, Adopt) for a in plan.actions)
            assert len(plan.unmanaged) == 2
            again = engine.make_plan(
                desired, engine.Providers(desired, lambda c: emu.provider), fresh
            )
            assert again.actions == () and len(again.unmanaged) == 2
        assert len(buys(world)) == 3


def test_an_option_nothing_for_sale_fits_is_a_located_plan_error():
    world = World.from_seed({})
    with account(world) as emu, tempfile.TemporaryDirectory() as tmp:
        wanted = Declaration("s", "mm", 1, "AU", "mobile", options={"pattern": "999999"})
        desired = desired_for(emu.provider.config, wanted)
        providers = engine.Providers(desired, lambda c: emu.provider)
        with (
            SqliteStateStore(Path(tmp) / "state.sqlite") as store,
            pytest.raises(ConfigError, match="pattern 999999"),
        ):
            engine.make_plan(desired, providers, store)
        assert buys(world) == []


def test_a_plan_that_releases_says_messagemedia_holds_the_number():
    world = World.from_seed({})
    with account(world) as emu, tempfile.TemporaryDirectory() as tmp:
        config = emu.provider.config
        with SqliteStateStore(Path(tmp) / "state.sqlite") as store:
            converge(
                emu.provider, desired_for(config, Declaration("s", "mm", 2, "AU", "mobile")), store
            )
            smaller = desired_for(config, Declaration("s", "mm", 1, "AU", "mobile"))
            plan = engine.make_plan(
                smaller, engine.Providers(smaller, lambda c: emu.provider), store
            )
            assert [a.kind for a in plan.actions] == ["release"]
            assert any("45 days" in w for w in plan.warnings)


def test_a_label_update_always_names_a_label_keeping_one_not_ours_to_set():
    """The API's schema marks `label` and `metadata` both required on the PATCH: a change
    that does not set the tag sends the number's own label back with the new map."""
    world = World.from_seed({"owned": 1})
    world.update(next(iter(world.numbers)), alias="set-by-hand")
    bodies = []
    with account(world) as emu:
        (owned,) = emu.provider.list_numbers()
        original = emu.emulator.handle

        def spy(request, raw_query=""):
            if request.method == "PATCH":
                bodies.append(json.loads(request.body))
            return original(request, raw_query)

        emu.emulator.handle = spy
        assert emu.provider.set_labels([(owned, None, {"team": "a"})]).done
        assert emu.provider.set_labels([(owned, "support", {"team": "b"})]).done
    assert bodies == [
        {"metadata": {"team": "a"}, "label": "set-by-hand"},
        {"metadata": {"team": "b"}, "label": "support"},
    ]


def test_an_italian_prefix_keeps_its_zero():
    """Italian landlines keep their 0 after +39 (+39 06 for Rome): a prefix "06" searches
    and matches 3906..., where dropping the zero as for France found nothing for sale."""
    world = World.from_seed({"catalogue": [ROME]})
    with account(world) as emu:
        outcome = buy(emu.provider, 2, where=Where("IT", "local", prefix="06"))
        assert outcome.error is None, outcome.error
        assert all(n.number.startswith("+3906") for n in outcome.bought)
        assert len(outcome.bought) == 2
