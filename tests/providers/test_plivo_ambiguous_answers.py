"""Plivo commit answers that hide a purchase but close the attempt as "failed".

Each test buys one number for a quantity-1 declaration through the core's PurchaseRun while
the provider *did* sell the number, but the answer is one the adapter does not classify as
ambiguous. The attempt is then closed ("failed"), so the next plan neither adopts the number
(no open attempt; no alias was written) nor holds back the shortfall: it buys again.
"""

from __future__ import annotations

import httpx
import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.plivo import DEFAULT_AUTH_ID
from numbers_iac.emulators.serve import emulated, make_app
from numbers_iac.model import ProviderConfig, Where
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.plivo import PlivoProvider
from numbers_iac.simulation import World
from tests.protocol import run_purchase

AMIENS = Where("FR", "local", region="AMIENS, FRANCE")
BUY = f"POST /v1/Account/{DEFAULT_AUTH_ID}/PhoneNumber/"


def no_sleep(seconds: float) -> None:
    pass


def buys(world: World) -> list[str]:
    return [n for op, n in world.log if op == "buy"]


def request() -> PurchaseRequest:
    return PurchaseRequest("support-fr", 1, AMIENS, tag="support-fr")


def assert_bought_but_neither_recorded_nor_open(outcome, world):
    assert len(buys(world)) == 1, "the provider sold the number"
    recorded = outcome.store.load()
    # The core's promise: a number the provider may have sold is either recorded, or its
    # attempt stays open so the next plan adopts it / holds back the shortfall.
    assert recorded.numbers or recorded.attempts, (
        f"bought {buys(world)} but the state neither records it nor keeps its attempt open "
        f"(error: {outcome.error}); the next plan buys again"
    )


@pytest.mark.parametrize("status", [501, 520, 522, 524, 598, 599])
def test_gateway_5xx_after_the_buy_closes_the_attempt(status):
    """Regression (double purchase): a 5xx other than 500/502/503/504 on the buy POST (e.g. a
    Cloudflare 524 "origin timed out" after Plivo sold the number) is a plain ProviderError:
    plivo.commit re-raises it (status not in UNAVAILABLE_STATUSES), and
    PurchaseRun._failed_commit journals it "failed" (closed). The issue says any 5xx is
    ambiguous. Root cause: http._RETRYABLE_STATUS drives the Transient classification, and
    purchase._failed_commit only treats TransientError/OutcomeUnknownError as ambiguous."""
    world = World.from_seed({"apps": ["ivr"]})
    with emulated("plivo", world, sleep=no_sleep, settings={"max_retries": 1}) as env:
        env.app.add(Fault(status=status, then_fail=True, times=1, match=BUY))
        outcome = run_purchase(env.provider, request())
        assert_bought_but_neither_recorded_nor_open(outcome, world)


def _provider_with_body_rewrite(world: World, rewrite) -> PlivoProvider:
    app = make_app("plivo", world)
    inner = httpx.WSGITransport(app=app)

    def handler(req: httpx.Request) -> httpx.Response:
        req.read()
        response = inner.handle_request(req)
        response.read()
        if req.method == "POST" and "/PhoneNumber/" in req.url.path:
            return rewrite(response)
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )

    config = ProviderConfig("plivo", "plivo", {**app.app.provider_settings("http://e.invalid")})
    return PlivoProvider(config, transport=httpx.MockTransport(handler), sleep=no_sleep)


def test_2xx_answer_that_is_not_json_closes_the_attempt():
    """Regression (double purchase): Plivo answered 201 (the number IS bought) but the body is not
    JSON (a proxy's HTML page, a truncated body). plivo.commit calls http.json_of outside its
    try (plivo.py, `payload = self.http.json_of(...)`), which raises a plain ProviderError;
    PurchaseRun._failed_commit closes the attempt as "failed". A 2xx is proof of purchase:
    it should be recorded (or at worst read back / held open)."""
    world = World.from_seed({"apps": ["ivr"]})

    def html(response: httpx.Response) -> httpx.Response:
        return httpx.Response(
            201, text="<html>Created</html>", headers={"content-type": "text/html"}
        )

    provider = _provider_with_body_rewrite(world, html)
    outcome = run_purchase(provider, request())
    assert_bought_but_neither_recorded_nor_open(outcome, world)


def test_undecodable_answer_closes_the_attempt():
    """Regression (double purchase): the buy's answer carries a Content-Encoding its body does not
    match; httpx raises DecodingError (an HTTPError, not a TransportError), which
    http.HttpClient._attempt turns into a plain ProviderError (not TransientError, so not
    ambiguous) although the request reached Plivo. The attempt is closed as "failed"."""
    world = World.from_seed({"apps": ["ivr"]})

    def bad_gzip(response: httpx.Response) -> httpx.Response:
        return httpx.Response(
            201,
            content=b"this is not gzip",
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )

    provider = _provider_with_body_rewrite(world, bad_gzip)
    outcome = run_purchase(provider, request())
    assert_bought_but_neither_recorded_nor_open(outcome, world)
