"""The Aculab adapter against the Aculab emulator, in process (httpx.WSGITransport)."""

from __future__ import annotations

import httpx
import pytest

from numbers_iac.emulators.aculab import AculabEmulator
from numbers_iac.emulators.faults import Fault, FaultInjector
from numbers_iac.errors import OutcomeUnknownError, UnknownRegionError
from numbers_iac.model import QUANTITY, ProviderConfig, Where
from numbers_iac.providers.aculab import AculabProvider, escape
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.simulation import World
from tests.protocol import run_purchase

LONDON = Where("GB", "local", region="London")


class Env:
    def __init__(self, world: World):
        self.world = world
        self.emulator = AculabEmulator(world)
        self.app = FaultInjector(self.emulator, sleep=lambda s: None)
        config = ProviderConfig(
            "aculab", "aculab", self.emulator.provider_settings("http://emulator.invalid")
        )
        self.provider = AculabProvider(
            config, transport=httpx.WSGITransport(app=self.app), sleep=lambda s: None
        )


@pytest.fixture
def env():
    e = Env(World.from_seed({"apps": ["ivr", "sales"], "owned": 5}))
    yield e
    e.provider.close()


def buys(world: World) -> list[str]:
    return [number for kind, number in world.log if kind == "buy"]


def test_escape_non_ascii():
    assert escape("Mönchengladbach") == "M\\u00f6nchengladbach"


def test_lists_owned_numbers_in_one_request(env):
    numbers = env.provider.list_numbers()
    assert [n.number for n in numbers] == sorted(env.world.numbers)
    sample = env.world.numbers[numbers[0].number]
    assert numbers[0].country == sample.country
    assert numbers[0].number_type == sample.number_type
    assert numbers[0].acquired_on
    assert len(env.app.requests(contains="/tel_list_numbers")) == 1


def test_lists_apps_as_template_services(env):
    assert sorted(a.name for a in env.provider.list_apps()) == ["ivr", "sales"]


def test_quote_and_inventory(env):
    assert env.provider.quote(LONDON, 3).price is None
    with pytest.raises(UnknownRegionError, match="Regions for sale"):
        env.provider.quote(Where("GB", "local", region="Atlantis"), 1)
    rows = env.provider.inventory("GB", "local")
    assert "London" in {r.region for r in rows}
    tollfree = env.provider.inventory("GB", "tollfree")
    assert [r.prefix for r in tollfree] == ["800"]


def test_purchase_of_three_is_recorded(env):
    outcome = run_purchase(env.provider, PurchaseRequest("d", 3, LONDON))
    assert outcome.error is None
    assert len(outcome.bought) == 3
    assert sorted(n.number for n in outcome.bought) == sorted(buys(env.world))
    assert all(n.region == "London" and n.country == "GB" for n in outcome.bought)
    assert len(env.app.requests("POST", "/tel_purchase")) == 1
    recorded = outcome.store.load().numbers
    assert {num for _, num in recorded} == {n.number for n in outcome.bought}
    assert not outcome.store.load().attempts


def test_purchase_in_a_state_country(env):
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, Where("US", "local", "Boston")))
    assert outcome.error is None and len(outcome.bought) == 2


def test_short_purchase_buys_what_there_is_and_leaves_nothing_open(env):
    env.world.set_stock("gb-local-161", 2)
    request = PurchaseRequest("d", 5, Where("GB", "local", region="Manchester"))
    outcome = run_purchase(env.provider, request)
    assert len(outcome.bought) == 2 == len(buys(env.world))
    assert outcome.error is not None
    assert "no more" in str(outcome.error).lower()
    assert not outcome.store.load().attempts


def test_lost_answer_after_the_work_leaves_one_open_attempt(env):
    env.app.add(Fault(status=500, then_fail=True, times=1, match="POST /tel_purchase"))
    outcome = run_purchase(env.provider, PurchaseRequest("d", 3, LONDON))
    assert isinstance(outcome.error, OutcomeUnknownError)
    assert len(buys(env.world)) == 3  # bought, but the answer was lost
    assert len(env.app.requests("POST", "/tel_purchase")) == 1  # never resent
    (attempt,) = outcome.store.load().attempts
    assert attempt.mode == QUANTITY and attempt.count == 3 and attempt.declaration == "d"


def test_purchase_based_on_an_app_binds_the_numbers(env):
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, LONDON, app_id="ivr"))
    assert outcome.error is None
    listed = {n.number: n for n in env.provider.list_numbers()}
    assert {listed[n.number].app_id for n in outcome.bought} == {"ivr"}


def test_bind_rebind_and_unbind(env):
    first, second = env.provider.list_numbers()[:2]
    result = env.provider.bind([first, second], "ivr")
    assert set(result.done) == {first.number, second.number} and not result.failed
    listed = {n.number: n.app_id for n in env.provider.list_numbers()}
    assert listed[first.number] == listed[second.number] == "ivr"
    env.provider.bind([first], "sales")
    assert {n.number: n.app_id for n in env.provider.list_numbers()}[first.number] == "sales"
    result = env.provider.bind([first, second], None)
    assert set(result.done) == {first.number, second.number}
    listed = {n.number: n.app_id for n in env.provider.list_numbers()}
    assert listed[first.number] is None and listed[second.number] is None
    ivr_id = next(k for k, v in env.world.apps.items() if v == "ivr")
    assert env.world.numbers[second.number].app_id != ivr_id


def test_release_and_already_gone(env):
    first, second, third = env.provider.list_numbers()[:3]
    result = env.provider.release([first, second])
    assert set(result.done) == {first.number, second.number} and not result.failed
    assert first.number not in env.world.numbers
    assert len(env.app.requests("POST", "/tel_delete_numbers")) == 1
    again = env.provider.release([first])
    assert again.done == (first.number,)
    env.emulator.undeletable[third.provider_id] = ("Number is in use", "0301")
    kept = env.provider.release([third])
    assert third.number in kept.failed and "in use" in kept.failed[third.number]
