"""The CALLR emulator on the wire: JSON-RPC 2.0 envelopes on one URL, positional params, auth
by API key or Basic, errors as JSON-RPC error objects, the two-step store, did.search pages."""

from __future__ import annotations

import httpx
import pytest

from numbers_iac.emulators.callr import CODES, ENDPOINT, CallrEmulator, short_hash
from numbers_iac.emulators.faults import FaultInjector
from numbers_iac.simulation import World

KEY = {"Authorization": "Api-Key callr-emulator-key"}


@pytest.fixture
def world() -> World:
    return World.from_seed({"apps": ["support-ivr"], "owned": 3})


@pytest.fixture
def emulator(world) -> CallrEmulator:
    return CallrEmulator(world)


def client(app) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://callr.test")


def rpc(app, method: str, *params, headers=KEY, rpc_id: int = 7) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": list(params)}
    with client(app) as http:
        return http.post(ENDPOINT, json=body, headers=headers)


def result(app, method: str, *params):
    answer = rpc(app, method, *params).json()
    assert "error" not in answer, answer
    return answer["result"]


def amiens(emulator: CallrEmulator) -> int:
    areas = result(emulator, "did/areacode.get_list", "FR", "GEOGRAPHIC")
    (area,) = [a for a in areas if a["name"] == "Amiens"]
    assert area["prefix"] == "+33322"
    return area["id"]


def test_a_call_echoes_its_id_and_answers_a_result(emulator):
    answer = rpc(emulator, "system.get_timestamp", rpc_id=42)
    assert answer.status_code == 200
    body = answer.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 42 and isinstance(body["result"], int)


def test_basic_auth_and_login_as_are_accepted(emulator):
    basic = httpx.BasicAuth("emulator", "callr-emulator-key").auth_flow
    header = next(basic(httpx.Request("POST", "http://x"))).headers["Authorization"]
    headers = {"Authorization": header, "Callr-Login-As": "account.hash 3TXTPS65"}
    assert rpc(emulator, "system.get_timestamp", headers=headers).status_code == 200
    assert emulator.login_as == ["account.hash 3TXTPS65"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Api-Key nope"}, {**KEY, "Callr-Login-As": "bogus"}]
)
def test_refused_credentials_are_an_error_object(emulator, headers):
    answer = rpc(emulator, "system.get_timestamp", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == CODES["auth"]


def test_malformed_envelopes_get_json_rpc_codes(emulator):
    with client(emulator) as http:
        assert http.get(ENDPOINT, headers=KEY).status_code == 405
        assert http.post("/json-rpc/v1/", json={}, headers=KEY).status_code == 404
        parse = http.post(ENDPOINT, content=b"{", headers=KEY).json()
        named = http.post(
            ENDPOINT,
            json={"jsonrpc": "2.0", "id": 1, "method": "system.get_timestamp", "params": {}},
            headers=KEY,
        ).json()
    assert parse["error"]["code"] == -32700
    assert named["error"]["code"] == -32600  # named params are not supported
    assert rpc(emulator, "no.such_method").json()["error"]["code"] == -32601
    assert rpc(emulator, "did/store.reserve", "1").json()["error"]["code"] == -32602


def test_discovery_and_quotes_gold_dearer(emulator):
    assert {"code": "FR", "name": "FR"} in result(emulator, "did/areacode.countries")
    types = {t["code"] for t in result(emulator, "did/areacode.types", "FR")}
    assert {"GEOGRAPHIC", "TOLLFREE"} <= types
    area = amiens(emulator)
    classic = result(emulator, "did/store.get_quote", area, "CLASSIC", 1)["cost"]
    gold = result(emulator, "did/store.get_quote", area, "GOLD", 1)["cost"]
    assert float(gold["amount_per_month"]) > float(classic["amount_per_month"]) > 0


def test_reserve_then_buy_in_two_steps(emulator, world):
    area = amiens(emulator)
    held = result(emulator, "did/store.reserve", area, "GOLD", 2, "RANDOM")
    assert set(held) >= {"token", "expire", "items", "cost", "contract"}
    numbers = [i["intl_number"] for i in held["items"]]
    assert len(numbers) == 2 and not set(numbers) & set(world.numbers)
    assert list(emulator.open_orders()) == [held["token"]]
    assert result(emulator, "did/store.view_order", held["token"])["token"] == held["token"]
    bought = result(emulator, "did/store.buy_order", held["token"])
    assert [d["intl_number"] for d in bought["success"]] == numbers
    assert set(numbers) <= set(world.numbers) and emulator.open_orders() == {}
    again = rpc(emulator, "did/store.buy_order", held["token"]).json()
    assert again["error"]["code"] == CODES["order_not_found"]
    listed = result(emulator, "apps.get_dids", False)
    assert {d["class"] for d in listed if d["intl_number"] in numbers} == {"GOLD"}


def test_a_cancelled_order_frees_its_numbers_and_a_lapsed_one_is_refused(world):
    now = [1000.0]
    emulator = CallrEmulator(world, clock=lambda: now[0], short_stock=None)
    area = amiens(emulator)
    first = result(emulator, "did/store.reserve", area, "CLASSIC", 1, "SEQUENTIAL")
    assert result(emulator, "did/store.cancel_order", first["token"]) is True
    second = result(emulator, "did/store.reserve", area, "CLASSIC", 1, "SEQUENTIAL")
    assert second["items"] == first["items"]
    now[0] += 301
    lapsed = rpc(emulator, "did/store.buy_order", second["token"]).json()
    assert lapsed["error"]["code"] == CODES["order_expired"]
    assert emulator.open_orders() == {} and world.reservations == {}


def test_short_stock_reserves_fewer_items_than_asked(world):
    emulator = CallrEmulator(world)
    area = amiens(emulator)
    emulator.short_stock[area] = 2
    held = result(emulator, "did/store.reserve", area, "CLASSIC", 5, "RANDOM")
    assert len(held["items"]) == 2 and held["cost"]["quantity"] == 2


def test_did_search_pages_and_caps_the_limit(world):
    big = World.from_seed({"owned": 250})
    emulator = CallrEmulator(big)
    first = result(emulator, "did.search", {}, {})
    assert len(first["hits"]) == 50 and first["total"] == 250 and first["has_more"]
    capped = result(emulator, "did.search", {}, {"offset": 200, "limit": 500})
    assert len(capped["hits"]) == 50 and capped["has_more"] is False
    hit = capped["hits"][0]
    assert hit["hash"] == short_hash(hit["intl_number"]) and hit["intl_number"].startswith("+")


def test_assign_remove_and_cancel_subscription_by_hash(emulator, world):
    (app,) = result(emulator, "apps.get_list", False)
    number = sorted(world.numbers)[0]
    did = short_hash(number)
    assert result(emulator, "apps.assign_did", app["hash"], did) is True
    assert world.numbers[number].app_id == world.app_by_name("support-ivr")[0]
    page = result(emulator, "did.search", {}, {"limit": 10})
    (hit,) = [h for h in page["hits"] if h["hash"] == did]
    assert hit["app"]["hash"] == app["hash"] and hit["app"]["name"] == "support-ivr"
    assert result(emulator, "apps.remove_did", did) is True
    assert world.numbers[number].app_id is None
    assert result(emulator, "did/store.cancel_subscription", did) is True
    assert number not in world.numbers
    gone = rpc(emulator, "did/store.cancel_subscription", did).json()
    assert gone["error"]["code"] == CODES["not_found"]


def test_errors_can_ride_on_any_http_status(world):
    emulator = CallrEmulator(world, error_status=500)
    answer = rpc(emulator, "apps.remove_did", "NOPE0000")
    assert answer.status_code == 500 and answer.json()["error"]["code"] == CODES["not_found"]


def test_the_fault_injector_logs_the_method_called(emulator):
    app = FaultInjector(emulator)
    rpc(app, "did/areacode.countries")
    assert [r.path for r in app.log] == ["/json-rpc/v1.1/did/areacode.countries"]
    assert emulator.calls == ["did/areacode.countries"]
