"""PurchaseRun trusts what adapters answer more than the core's promise allows."""

from __future__ import annotations

from dataclasses import replace

import httpx

from numbers_iac.model import QUANTITY, ProviderConfig, Where
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from tests.protocol import run_purchase
from tests.providers.test_plivo_ambiguous_answers import _provider_with_body_rewrite

AMIENS = Where("FR", "local", region="AMIENS, FRANCE")


class GenerousQuantity(SandboxProvider):
    """An adapter whose blind-order offer rounds up (e.g. a provider selling in packs)."""

    def offer(self, request, count, exclude):
        offer = super().offer(request, count, exclude)
        return replace(offer, count=offer.count + 4) if offer.mode == QUANTITY else offer


def test_quantity_offer_larger_than_the_need_is_bought_in_full():
    """Regression (buys more than declared): PurchaseRun._quantity journals and commits
    `offer.count` without checking it against `self.need` (purchase.py _quantity), and
    _record records whatever commit returns. The reserve path refuses an offer larger than
    the need (_refuse_reservation); the quantity path should too (clamp or refuse), and
    every path should refuse to record more numbers than the attempt's count."""
    world = World.from_seed({"apps": []})
    config = ProviderConfig("lab", "sandbox", {"purchase_mode": "quantity"})
    provider = GenerousQuantity(config, world=world)
    outcome = run_purchase(provider, PurchaseRequest("support", 1, AMIENS, tag="support"))
    assert len(world.numbers) <= 1, f"asked 1, bought {len(world.numbers)}"
    assert len(outcome.bought) <= 1


def test_non_provider_error_in_a_commit_thread_crashes_the_apply():
    """Regression (crash): Plivo answers 201 with a JSON body that is not an object (here the
    string "ok"). plivo.commit calls payload.get(...) -> AttributeError; the commit thread
    in PurchaseRun._commit_specific only catches ProviderError, pool.map re-raises, and
    PurchaseRun.run only catches ProviderError: the whole apply dies with "internal error"
    and the bought number is neither recorded nor tagged (its attempt stays open, so it is
    adopted later: no double purchase, but a crash). Catch Exception in the commit worker
    and treat it as an ambiguous outcome."""
    world = World.from_seed({"apps": ["ivr"]})

    def json_string(response: httpx.Response) -> httpx.Response:
        return httpx.Response(201, json="ok")

    provider = _provider_with_body_rewrite(world, json_string)
    outcome = run_purchase(provider, PurchaseRequest("support-fr", 1, AMIENS, tag="support-fr"))
    assert outcome.bought or outcome.unresolved
