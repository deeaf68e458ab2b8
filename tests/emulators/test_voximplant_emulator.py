"""The Voximplant emulator's wire format, spoken to directly (no adapter): method paths and
`cmd`, form and query parameters, the JWT and legacy auth, the error envelope with HTTP 200,
lists joined with ";", paging, stock errors, binds and deactivation."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest

from numbers_iac.emulators.faults import FaultInjector
from numbers_iac.emulators.voximplant import VoximplantEmulator, generate_service_account
from numbers_iac.simulation import World

KEY = generate_service_account("1000001", "kid-1")


def token(key=KEY, *, iss=1000001, lifetime=24, iat=None, kid=None) -> str:
    now = int(time.time()) if iat is None else iat
    payload = json.dumps({"iss": iss, "iat": now - 5, "exp": now + lifetime}).encode()
    headers = {"kid": kid or key["key_id"], "typ": "JWT"}
    return jwt.PyJWS().encode(payload, key["private_key"], algorithm="RS256", headers=headers)


class Client:
    def __init__(self, world: World, **options):
        self.world = world
        self.emulator = VoximplantEmulator(world, service_account=KEY, **options)
        self.app = FaultInjector(self.emulator)
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=self.app), base_url="http://vox.invalid"
        )

    def call(self, method: str, bearer: str | None = None, **params) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {bearer or token()}"}
        response = self.http.post(f"/platform_api/{method}", data=params, headers=headers)
        return response.status_code, response.json()


@pytest.fixture
def client() -> Client:
    return Client(World.from_seed({"apps": ["support-ivr", "sales-bot"], "owned": 5}))


def error_code(body: dict) -> int:
    return body["error"]["code"]


# --------------------------------------------------------------------------- auth


def test_a_valid_jwt_is_accepted(client):
    status, body = client.call("GetPhoneNumbers")
    assert status == 200 and body["total_count"] == 5 and body["count"] == 5


@pytest.mark.parametrize(
    ("bearer", "code"),
    [
        (lambda: token(generate_service_account("1000001", "kid-1")), 100),  # another key
        (lambda: token(iss=999), 100),
        (lambda: token(kid="kid-unknown"), 100),
        (lambda: token(lifetime=7200), 454),
        (lambda: token(iat=int(time.time()) - 600), 456),
        (lambda: token(iat=int(time.time()) + 600), 455),
        (lambda: "not-a-token", 447),
    ],
    ids=["wrong-key", "wrong-iss", "unknown-kid", "ttl", "expired", "future", "garbage"],
)
def test_bad_tokens_are_refused_with_http_200_and_a_code(client, bearer, code):
    status, body = client.call("GetPhoneNumbers", bearer=bearer())
    assert status == 200 and error_code(body) == code and "result" not in body


def test_legacy_api_key_parameters_and_the_cmd_form(client):
    response = client.http.post(
        "/platform_api",
        data={"cmd": "GetPhoneNumbers", "account_id": "1000001", "api_key": "emulator-api-key"},
    )
    assert response.json()["total_count"] == 5
    legacy_get = client.http.get(
        "/platform_api/GetPhoneNumbers/",
        params={"account_id": "1000001", "api_key": "wrong", "count": 2},
    )
    assert error_code(legacy_get.json()) == 100
    assert error_code(client.http.post("/platform_api", data={}).json()) == 102


def test_errors_can_be_answered_with_another_status():
    other = Client(World.from_seed({}), error_status=400)
    status, body = other.call("NoSuchMethod")
    assert status == 400 and error_code(body) == 103


# --------------------------------------------------------------------------- catalogue


def test_categories_states_and_regions(client):
    _, categories = client.call("GetPhoneNumberCategories", country_code="US;FR")
    by_country = {c["country_code"]: c for c in categories["result"]}
    assert set(by_country) == {"US", "FR"}
    us = {c["phone_category_name"]: c for c in by_country["US"]["phone_categories"]}
    assert us["GEOGRAPHIC"]["country_has_states"] and not us["TOLLFREE"]["country_has_states"]
    _, states = client.call(
        "GetPhoneNumberCountryStates", country_code="US", phone_category_name="GEOGRAPHIC"
    )
    assert "CA" in {s["country_state"] for s in states["result"]}
    _, missing = client.call(
        "GetPhoneNumberRegions", country_code="US", phone_category_name="GEOGRAPHIC"
    )
    assert error_code(missing) == 485
    _, regions = client.call(
        "GetPhoneNumberRegions",
        country_code="US",
        phone_category_name="GEOGRAPHIC",
        country_state="CA",
    )
    (sf,) = regions["result"]
    assert sf["phone_region_name"] == "San Francisco" and sf["phone_region_code"] == "415"
    assert sf["phone_count"] > 0 and sf["account_price"] == 0.5


def test_sold_out_regions_are_omitted_unless_asked(client):
    group = client.world.find_groups("US", "local", region="Anchorage")[0]
    client.world.set_stock(group.group_id, 0)
    params = {"country_code": "US", "phone_category_name": "GEOGRAPHIC", "country_state": "AK"}
    assert client.call("GetPhoneNumberRegions", **params)[1]["result"] == []
    _, all_regions = client.call("GetPhoneNumberRegions", omit_empty="false", **params)
    assert [r["phone_count"] for r in all_regions["result"]] == [0]


def amiens(client) -> dict:
    _, regions = client.call(
        "GetPhoneNumberRegions", country_code="FR", phone_category_name="GEOGRAPHIC"
    )
    (region,) = [r for r in regions["result"] if r["phone_region_name"] == "Amiens"]
    return {
        "country_code": "FR",
        "phone_category_name": "GEOGRAPHIC",
        "phone_region_id": region["phone_region_id"],
    }


# --------------------------------------------------------------------------- search and attach


def test_search_then_attach_a_list_of_numbers(client):
    where = amiens(client)
    _, found = client.call("GetNewPhoneNumbers", count=3, **where)
    digits = [n["phone_number"] for n in found["result"]]
    assert found["count"] == 3 and found["total_count"] >= 3
    assert all(not d.startswith("+") and d.startswith("33322") for d in digits)
    status, attached = client.call("AttachPhoneNumber", phone_number=";".join(digits[:2]), **where)
    assert status == 200 and attached["result"] == 1
    assert [a["phone_number"] for a in attached["phone_numbers"]] == digits[:2]
    assert all(isinstance(a["phone_id"], int) for a in attached["phone_numbers"])


def test_attach_errors_arrive_with_http_200(client):
    where = amiens(client)
    _, found = client.call("GetNewPhoneNumbers", count=1, **where)
    number = found["result"][0]["phone_number"]
    client.world.take("+" + number)
    assert error_code(client.call("AttachPhoneNumber", phone_number=number, **where)[1]) == 182
    both = client.call("AttachPhoneNumber", phone_number=number, phone_count=1, **where)
    assert error_code(both[1]) == 458
    group = client.world.find_groups("FR", "local", region="AMIENS, FRANCE")[0]
    client.world.set_stock(group.group_id, 2)
    status, short = client.call("AttachPhoneNumber", phone_count=5, **where)
    assert status == 200 and error_code(short) == 332 and "available 2" in short["error"]["msg"]
    client.world.set_stock(group.group_id, 0)
    assert error_code(client.call("AttachPhoneNumber", phone_count=1, **where)[1]) == 331
    assert [op for op, _ in client.world.log if op == "buy"] == []


def test_verification_countries_hold_numbers_until_verified():
    client = Client(World.from_seed({}), verification_countries={"FR"})
    where = amiens(client)
    _, attached = client.call("AttachPhoneNumber", phone_count=1, **where)
    (record,) = attached["phone_numbers"]
    assert record["verification_status"] == "REQUIRED" and record["unverified_hold_until"]
    (listed,) = client.call("GetPhoneNumbers")[1]["result"]
    assert listed["can_be_used"] is False and listed["verification_status"] == "REQUIRED"
    client.emulator.verify("+" + record["phone_number"])
    (listed,) = client.call("GetPhoneNumbers")[1]["result"]
    assert listed["verification_status"] == "VERIFIED" and listed["can_be_used"] is True


# --------------------------------------------------------------------------- owned numbers


def test_get_phone_numbers_pages_by_offset_and_caps_count():
    client = Client(World.from_seed({"owned": 150}))
    _, first = client.call("GetPhoneNumbers", count=500, offset=0, order_by="phone_number")
    assert first["count"] == 100 and first["total_count"] == 150
    _, second = client.call("GetPhoneNumbers", count=100, offset=100, order_by="phone_number")
    numbers = [r["phone_number"] for r in first["result"] + second["result"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 150


def test_filters_by_number_list_and_is_account_phone_number(client):
    numbers = [n.lstrip("+") for n in sorted(client.world.numbers)[:2]]
    _, found = client.call("GetPhoneNumbers", phone_number=";".join(numbers))
    assert sorted(r["phone_number"] for r in found["result"]) == numbers
    assert client.call("IsAccountPhoneNumber", phone_number=numbers[0])[1] == {"result": True}
    assert client.call("IsAccountPhoneNumber", phone_number="33999999999")[1] == {"result": False}


def test_bind_a_list_of_ids_with_a_rule_then_unbind(client):
    rows = client.call("GetPhoneNumbers")[1]["result"]
    ids = ";".join(str(r["phone_id"]) for r in rows[:3])
    app_id = client.world.app_by_name("support-ivr")[0]
    rule = client.emulator.add_rule("support-ivr", "inbound")
    status, body = client.call(
        "BindPhoneNumberToApplication", phone_id=ids, application_id=app_id, rule_name="inbound"
    )
    assert status == 200 and body == {"result": 1}
    bound = client.call("GetPhoneNumbers", application_id=app_id)[1]["result"]
    assert len(bound) == 3 and {r["rule_id"] for r in bound} == {rule}
    assert bound[0]["application_name"] == "support-ivr.emulator.voximplant.com"
    client.call("BindPhoneNumberToApplication", phone_id=ids, application_id=app_id, bind="False")
    assert client.call("GetPhoneNumbers", application_id=app_id)[1]["total_count"] == 0
    unknown = client.call("BindPhoneNumberToApplication", phone_id=ids, application_id="42")
    assert error_code(unknown[1]) == 116
    by_name = client.call("BindPhoneNumberToApplication", phone_id=ids, application_name="nope")
    assert error_code(by_name[1]) == 558


def test_get_applications_filters_by_substring(client):
    client.world.add_app("support-ivr-old")
    _, body = client.call("GetApplications", application_name="support-ivr")
    names = sorted(a["application_name"] for a in body["result"])
    assert names == [
        "support-ivr-old.emulator.voximplant.com",
        "support-ivr.emulator.voximplant.com",
    ]


def test_deactivate_explicit_ids_and_what_all_would_do(client):
    rows = client.call("GetPhoneNumbers")[1]["result"]
    status, body = client.call("DeactivatePhoneNumber", phone_id=str(rows[0]["phone_id"]))
    assert body == {"result": 1} and len(client.world.numbers) == 4
    again = client.call("DeactivatePhoneNumber", phone_id=str(rows[0]["phone_id"]))[1]
    assert error_code(again) == 181
    client.call("DeactivatePhoneNumber", phone_id="all")
    assert client.world.numbers == {}  # why an adapter must never send it


def test_deactivated_numbers_may_stay_listed_as_canceled():
    client = Client(World.from_seed({"owned": 2}), deactivated_listed=True)
    rows = client.call("GetPhoneNumbers")[1]["result"]
    client.call("DeactivatePhoneNumber", phone_id=str(rows[0]["phone_id"]))
    listed = client.call("GetPhoneNumbers")[1]["result"]
    assert [r["canceled"] for r in sorted(listed, key=lambda r: r["phone_id"])] == [True, False]
    assert client.call("GetPhoneNumbers", canceled="false")[1]["total_count"] == 1


def test_multipart_bodies_are_read_like_forms(client):
    response = client.http.post(
        "/platform_api/GetPhoneNumbers",
        files={"count": (None, "2")},
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert response.json()["count"] == 2


def test_the_request_log_names_each_method(client):
    client.call("GetPhoneNumbers")
    client.call("GetApplications")
    assert [r.path for r in client.app.log] == [
        "/platform_api/GetPhoneNumbers",
        "/platform_api/GetApplications",
    ]
