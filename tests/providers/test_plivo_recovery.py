"""Regression (second review): Plivo's `recover` turns "could not ask" into "not bought".

A regulated-country buy comes back pending and Plivo's `Number/` listing does not show
pending numbers, so the only way to see it is `GET Number/{n}/` (PlivoProvider.recover ->
_read_back). `_read_back` swallows *every* ProviderError (5xx after all retries, timeouts,
429...) and returns None, exactly as for a 404. Once the attempt is older than `settle_time`,
the planner reads the missing number as "absent" and emits Settle(not_bought=1) plus a new
Purchase: the pending number is bought twice (the first is delivered later, unmanaged).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from numbers_iac import engine, planner
from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.plivo import DEFAULT_AUTH_ID
from numbers_iac.emulators.serve import emulated
from numbers_iac.model import (
    Declaration,
    Desired,
    Purchase,
    Settle,
    StateConfig,
    Where,
)
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.simulation import World
from tests.protocol import run_purchase

AMIENS = Where("FR", "local", region="AMIENS, FRANCE")
BUY = f"POST /v1/Account/{DEFAULT_AUTH_ID}/PhoneNumber/"
READ_BACK = f"GET /v1/Account/{DEFAULT_AUTH_ID}/Number/3"


def no_sleep(seconds: float) -> None:
    pass


def test_a_failing_read_back_of_a_pending_number_after_settle_time_buys_it_again():
    world = World.from_seed({"apps": ["ivr"], "regulated": ["FR"]})
    settings = {"max_retries": 1, "settle_time": 60}
    with emulated("plivo", world, sleep=no_sleep, settings=settings) as env:
        provider = env.provider
        # The buy happens (pending), its answer is lost, and the read-back fails: held open.
        env.app.add(Fault(status=500, then_fail=True, times=1, match=BUY))
        env.app.add(Fault(status=503, times=10_000, match=READ_BACK))
        outcome = run_purchase(provider, PurchaseRequest("support", 1, AMIENS, tag="support"))
        assert outcome.unresolved, outcome.error
        assert len(world.numbers) == 1  # bought, pending, not listed

        # 2 hours later Plivo's Number/{n}/ endpoint still answers 503 (an incident).
        store = outcome.store
        recorded = store.load()
        accounts = {"plivo": provider.account()}
        assert accounts["plivo"].numbers == ()  # pending numbers are not listed
        later = datetime.now(UTC) + timedelta(hours=2)
        settlements = engine.settle({"plivo": provider}, recorded, accounts, now=later)
        desired = Desired(
            config_path="/x/numbers.yaml",
            config_digest="d",
            providers={"plivo": provider.config},
            declarations={
                "support": Declaration(
                    name="support",
                    provider="plivo",
                    quantity=1,
                    country="FR",
                    number_type="local",
                    region="AMIENS, FRANCE",
                )
            },
            state=StateConfig(path="/x/state.sqlite"),
        )
        p = planner.plan(
            desired,
            accounts,
            recorded,
            {"plivo": provider.capabilities},
            settlements=settlements,
        )
        purchases = [a for a in p.actions if isinstance(a, Purchase)]
        settles = [a for a in p.actions if isinstance(a, Settle)]
        assert not purchases, (
            f"the read-back could not be made (503), yet the plan settles {settles} as not "
            f"bought and buys {purchases[0].count} again while {list(world.numbers)} is pending"
        )
