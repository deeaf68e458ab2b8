"""The Aculab emulator speaks the `tel_*` and inbound-service wire format over a World."""

from __future__ import annotations

import datetime

import httpx
import pytest

from numbers_iac.emulators.aculab import DEFAULT_API_KEY, DEFAULT_USERNAME, AculabEmulator
from numbers_iac.simulation import World

BASE = "http://127.0.0.1:9"  # never dialled: the WSGI transport answers in-process

MG_GROUP = {
    "group_id": "de-local-2161",
    "country": "DE",
    "number_type": "local",
    "region": "MÖNCHENGLADBACH, GERMANY",
    "prefix": "2161",
    "stock": 50,
    "setup": "1.00",
    "monthly": "0.90",
    "currency": "USD",
    "capabilities": ["voice"],
}


def fixed_clock() -> datetime.datetime:
    return datetime.datetime(2021, 1, 15, 8, 56, 24, tzinfo=datetime.UTC)


def make_client(world: World | None = None, **options) -> tuple[httpx.Client, AculabEmulator]:
    world = world or World.from_seed({"apps": ["support", "sales"]})
    emulator = AculabEmulator(world, now=fixed_clock, **options)
    client = httpx.Client(
        transport=httpx.WSGITransport(app=emulator),
        base_url=BASE,
        auth=(DEFAULT_USERNAME, DEFAULT_API_KEY),
        headers={"Accept": "application/json"},
    )
    return client, emulator


@pytest.fixture
def client_and_emulator():
    client, emulator = make_client()
    with client:
        yield client, emulator


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["datetime"] == "2021-01-15_08:56:24"
    assert body["error"]["link"].endswith(f"?error={code.replace(' ', '%20')}")
    assert body["request"]["url"].startswith("/")
    return body


# ----------------------------------------------------------------- auth and transport
@pytest.mark.parametrize(
    "auth",
    [
        None,
        ("emulator@example.invalid", DEFAULT_API_KEY),  # cloud id missing
        ("9-9-9/emulator@example.invalid", DEFAULT_API_KEY),  # another cloud
        (DEFAULT_USERNAME, "wrong-key"),
    ],
)
def test_bad_credentials_are_refused_with_401(client_and_emulator, auth):
    client, emulator = client_and_emulator
    if auth is None:
        anonymous = httpx.Client(transport=httpx.WSGITransport(app=emulator), base_url=BASE)
        response = anonymous.get("/tel_list_numbers")
    else:
        response = client.get("/tel_list_numbers", auth=auth)
    body = assert_error(response, 401, "HTTP 401")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert body["request"]["url"] == "/tel_list_numbers"


def test_good_credentials_list_an_empty_account(client_and_emulator):
    client, _ = client_and_emulator
    response = client.get("/tel_list_numbers")
    assert response.status_code == 200
    assert response.json() == {}


def test_provider_settings_split_the_username():
    _, emulator = make_client()
    assert emulator.provider_settings("http://127.0.0.1:1234/") == {
        "cloud_id": "1-2-0",
        "username": "emulator@example.invalid",
        "api_key": DEFAULT_API_KEY,
        "base_url": "http://127.0.0.1:1234/",
    }
    assert AculabEmulator.env_credentials == ("ACULAB_USERNAME", "ACULAB_API_KEY")


def test_unknown_path_and_wrong_method(client_and_emulator):
    client, _ = client_and_emulator
    assert_error(client.get("/tel_nothing"), 404, "HTTP 404")
    assert_error(client.delete("/tel_list_numbers"), 405, "HTTP 405")


def test_parameters_come_as_query_urlencoded_form_or_multipart(client_and_emulator):
    client, _ = client_and_emulator
    by_query = client.get("/tel_purchase", params={"country": "United Kingdom", "region": "London"})
    by_form = client.post("/tel_purchase", data={"country": "United Kingdom", "region": "London"})
    multipart = client.post(
        "/tel_purchase",
        data={"country": "United Kingdom", "region": "London"},
        files={"unused": ("x.bin", b"\x00", "application/octet-stream")},
    )
    mixed = client.post("/tel_purchase?country=United%20Kingdom", data={"region": "London"})
    for response in (by_query, by_form, mixed):
        assert response.status_code == 200, response.text
        assert len(response.json()) == 1
    assert multipart.status_code == 200, multipart.text
    assert len(client.get("/tel_list_numbers").json()) == 4


# ----------------------------------------------------------------- purchases
def test_purchase_by_region_and_quantity_returns_exactly_the_numbers_bought(client_and_emulator):
    client, emulator = client_and_emulator
    response = client.post(
        "/tel_purchase", data={"country": "Germany", "region": "Berlin", "quantity": "3"}
    )
    assert response.status_code == 200
    bought = response.json()
    assert len(bought) == 3 and all(n.startswith("4930") for n in bought)
    assert sorted("+" + n for n in bought) == sorted(emulator.world.numbers)


def test_partial_purchase_returns_fewer_when_stock_is_short(client_and_emulator):
    client, emulator = client_and_emulator
    emulator.world.set_stock("us-local-907", 3)
    order = {"country": "United States", "state": "Alaska", "region": "Anchorage", "quantity": "5"}
    refused = client.post("/tel_purchase", data={**order, "allow_partial": "False"})
    body = assert_error(refused, 400, "0400")
    assert "nothing was purchased" in body["error"]["text"]
    assert emulator.world.numbers == {}

    partial = client.post("/tel_purchase", data={**order, "allow_partial": "True"})
    assert partial.status_code == 200
    assert len(partial.json()) == 3
    assert sorted("+" + n for n in partial.json()) == sorted(emulator.world.numbers)

    empty = client.post("/tel_purchase", data={**order, "allow_partial": "True"})
    assert empty.json() == []


def test_geographic_purchase_in_a_country_with_states_needs_the_state(client_and_emulator):
    client, _ = client_and_emulator
    body = assert_error(
        client.get("/tel_purchase", params={"country": "United States", "region": "Boston"}),
        400,
        "0001",
    )
    assert "state" in body["error"]["text"]
    assert_error(
        client.get(
            "/tel_purchase",
            params={"country": "United States", "state": "Ohio", "region": "Boston"},
        ),
        400,
        "0002",
    )


def test_tollfree_purchase_by_prefix_needs_an_allowed_call_type(client_and_emulator):
    client, emulator = client_and_emulator
    order = {"country": "United States", "region": "833", "did_type": "tollfree"}
    assert_error(client.post("/tel_purchase", data=order), 400, "0002")
    response = client.post("/tel_purchase", data={**order, "allow_landline": "True"})
    assert response.status_code == 200
    [number] = response.json()
    assert number.startswith("1833")
    listing = client.get("/tel_list_numbers", params={"did_type": "tollfree"}).json()
    assert listing[number]["region"] == "833"
    assert listing[number]["did_type"] == "tollfree"


def test_tollfree_forbidden_call_type_fails():
    client, _ = make_client(tollfree_forbidden={"GB": ["cellular"]})
    order = {"country": "United Kingdom", "region": "800", "did_type": "tollfree"}
    response = client.post("/tel_purchase", data={**order, "allow_cellular": "True"})
    assert "cellular" in assert_error(response, 400, "0002")["error"]["text"]


def test_non_ascii_region_must_arrive_escaped():
    world = World.from_seed({"catalogue": [MG_GROUP]})
    client, emulator = make_client(world)
    raw = client.post("/tel_purchase", data={"country": "Germany", "region": "Mönchengladbach"})
    assert_error(raw, 400, "0002")
    escaped = client.post(
        "/tel_purchase", data={"country": "Germany", "region": "M\\u00f6nchengladbach"}
    )
    assert escaped.status_code == 200, escaped.text
    [number] = escaped.json()
    assert client.get("/tel_list_numbers").json()[number]["region"] == "Mönchengladbach"
    regions = client.get("/tel_get_supported_regions", params={"country": "Germany"})
    assert "M\\u00f6nchengladbach" in regions.text  # JSON answers escape it too
    lenient, _ = make_client(World.from_seed({"catalogue": [MG_GROUP]}), strict_unicode=False)
    ok = lenient.post("/tel_purchase", data={"country": "Germany", "region": "Mönchengladbach"})
    assert ok.status_code == 200


def test_purchase_development_buys_nothing(client_and_emulator):
    client, emulator = client_and_emulator
    response = client.get(
        "/tel_purchase_development",
        params={"country": "France", "region": "Paris", "quantity": "2"},
    )
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert emulator.world.numbers == {}
    assert emulator.world.log == []


@pytest.mark.parametrize(
    ("params", "code", "mentions"),
    [
        ({"region": "London"}, "0001", "country"),
        ({"country": "United Kingdom"}, "0001", "region"),
        ({"country": "Un1ted Kingdom", "region": "London"}, "0002", "country"),
        ({"country": "Atlantis", "region": "London"}, "0002", "Atlantis"),
        ({"country": "United Kingdom", "region": "Gotham"}, "0002", "Gotham"),
        ({"country": "United Kingdom", "region": "London", "quantity": "0"}, "0004", "quantity"),
        ({"country": "United Kingdom", "region": "London", "quantity": "x"}, "0002", "quantity"),
        (
            {"country": "United Kingdom", "region": "London", "did_type": "local"},
            "0002",
            "did_type",
        ),
        (
            {"country": "United Kingdom", "region": "London", "allow_partial": "true"},
            "0002",
            "allow_partial",
        ),
        (
            {"country": "United Kingdom", "region": "London", "based_on": "nope"},
            "0002",
            "nope",
        ),
    ],
)
def test_bad_purchase_parameters_get_aculab_error_bodies(
    client_and_emulator, params, code, mentions
):
    client, emulator = client_and_emulator
    body = assert_error(client.post("/tel_purchase", data=params), 400, code)
    assert mentions in body["error"]["text"]
    assert body["request"]["url"] == "/tel_purchase"
    assert emulator.world.numbers == {}


def test_a_repeated_parameter_is_0003(client_and_emulator):
    client, _ = client_and_emulator
    response = client.get("/tel_purchase?country=France&region=Paris&region=Lyon")
    assert_error(response, 400, "0003")


def test_regulation_addresses():
    addresses = {"My french place": {"country": "France", "region": "Avignon"}}
    client, _ = make_client(regulated=["FR"], regulation_addresses=addresses)
    assert client.get("/tel_list_regulation_addresses").json() == addresses
    order = {"country": "France", "region": "Paris"}
    assert_error(client.post("/tel_purchase", data=order), 400, "0005")
    gb = {"country": "United Kingdom", "region": "London", "regulation_address": "My french place"}
    assert_error(client.post("/tel_purchase", data=gb), 400, "0006")
    ok = client.post("/tel_purchase", data={**order, "regulation_address": "My french place"})
    assert ok.status_code == 200


# ----------------------------------------------------------------- listing
def test_listing_has_aculab_records_and_filters():
    client, emulator = make_client(World.from_seed({"owned": 40}))
    listing = client.get("/tel_list_numbers").json()
    assert len(listing) == 40
    assert all(not key.startswith("+") and key.isdigit() for key in listing)
    some_us = next(r for r in listing.values() if r["country"] == "United States")
    assert some_us["state"] and set(some_us) == {
        "country",
        "state",
        "region",
        "price",
        "purchased",
        "did_type",
    }
    some_gb = next(r for r in listing.values() if r["country"] == "United Kingdom")
    assert "state" not in some_gb
    assert some_gb["price"].count(".") == 1 and len(some_gb["price"].split(".")[1]) == 2

    uk = client.get("/tel_list_numbers", params={"country": "United Kingdom"}).json()
    assert uk and all(r["country"] == "United Kingdom" for r in uk.values())
    geo = client.get("/tel_list_numbers", params={"did_type": "geographic"}).json()
    assert geo and all(r["did_type"] == "geographic" for r in geo.values())
    london = client.post("/tel_list_numbers", data={"region": "London"}).json()
    assert london and all(r["region"] == "London" for r in london.values())
    calif = client.get("/tel_list_numbers", params={"state": "California"}).json()
    assert calif and all(r["state"] == "California" for r in calif.values())
    assert_error(client.get("/tel_list_numbers", params={"did_type": "fixed"}), 400, "0002")


def test_listing_is_one_unpaged_object_even_for_10000_numbers():
    client, _ = make_client(World.from_seed({"owned": 10_000}))
    response = client.get("/tel_list_numbers")
    assert response.status_code == 200
    assert len(response.json()) == 10_000


def test_list_limit_models_a_capped_answer():
    client, _ = make_client(World.from_seed({"owned": 30}), list_limit=10)
    assert len(client.get("/tel_list_numbers").json()) == 10


# ----------------------------------------------------------------- release
def test_release_reports_ok_partial_and_fail(client_and_emulator):
    client, emulator = client_and_emulator
    bought = client.post(
        "/tel_purchase", data={"country": "France", "region": "Lyon", "quantity": "3"}
    ).json()
    assert client.post("/tel_delete_numbers", data={"numbers": bought[0]}).json() == {
        "status": "OK"
    }
    emulator.undeletable[bought[2]] = ("Telephone number is being ported", "0301")
    partial = client.post(
        "/tel_delete_numbers", data={"numbers": ",".join([bought[1], bought[2], "441908538009"])}
    ).json()
    assert partial == {
        "status": "PARTIAL",
        "numbers": {
            bought[2]: {"description": "Telephone number is being ported", "code": "0301"},
            "441908538009": {
                "description": "Telephone number 441908538009 does not belong to you",
                "code": "0300",
            },
        },
    }
    assert list(emulator.world.numbers) == ["+" + bought[2]]
    failed = client.get("/tel_delete_numbers", params={"numbers": bought[1]}).json()
    assert failed["status"] == "FAIL" and failed["numbers"][bought[1]]["code"] == "0300"
    assert_error(client.post("/tel_delete_numbers", data={}), 400, "0001")


# ----------------------------------------------------------------- discovery
def test_discovery_services(client_and_emulator):
    client, _ = client_and_emulator
    countries = client.get("/tel_get_supported_countries").json()
    assert "United Kingdom" in countries and "United States" in countries
    national = client.get("/tel_get_supported_countries", params={"did_type": "national"}).json()
    assert "United States" not in national and "United Kingdom" in national
    assert client.get("/tel_get_supported_states", params={"country": "United States"}).json() == [
        "Alaska",
        "California",
        "Illinois",
        "Massachusetts",
        "New York",
        "Washington",
    ]
    assert client.get("/tel_get_supported_states", params={"country": "France"}).json() == []
    assert client.get(
        "/tel_get_supported_regions", params={"country": "United States", "state": "California"}
    ).json() == ["San Francisco"]
    assert client.get(
        "/tel_get_supported_regions", params={"country": "United States", "did_type": "tollfree"}
    ).json() == ["833", "844"]
    gb = client.post("/tel_get_supported_regions", data={"country": "United Kingdom"}).json()
    assert gb == ["London", "Manchester", "Birmingham"]
    assert_error(client.get("/tel_get_supported_regions"), 400, "0001")
    assert_error(client.get("/tel_get_supported_states"), 400, "0001")
    assert_error(
        client.get(
            "/tel_get_supported_regions", params={"country": "France", "state": "Ile de France"}
        ),
        400,
        "0002",
    )


# ----------------------------------------------------------------- inbound services
def test_buy_based_on_a_template_binds_the_numbers(client_and_emulator):
    client, emulator = client_and_emulator
    assert client.get("/service/v1/inbound").json() == ["sales", "support"]
    bought = client.post(
        "/tel_purchase",
        data={"country": "France", "region": "Paris", "quantity": "2", "based_on": "support"},
    ).json()
    support = client.get("/service/v1/inbound/support").json()
    [support_id] = emulator.world.app_by_name("support")
    for number in bought:
        assert client.get(f"/service/v1/inbound/{number}").json() == support
        assert emulator.world.numbers["+" + number].app_id == support_id


def test_rebind_by_copying_a_template_and_patch_merges(client_and_emulator):
    client, emulator = client_and_emulator
    [number] = client.post("/tel_purchase", data={"country": "France", "region": "Paris"}).json()
    assert emulator.world.numbers["+" + number].app_id is None
    sales = client.get("/service/v1/inbound/sales").json()
    put = client.put(f"/service/v1/inbound/{number}", json=sales)
    assert put.status_code == 201
    [sales_id] = emulator.world.app_by_name("sales")
    assert emulator.world.numbers["+" + number].app_id == sales_id
    assert ("bind", "+" + number) in emulator.world.log

    patch = {"rest": {"first_page": {"address": "https://other.example.invalid/", "method": "GET"}}}
    merged = client.patch(f"/service/v1/inbound/{number}", json=patch).json()
    assert merged["rest"]["first_page"] == patch["rest"]["first_page"]
    assert merged["rest"]["final_page"] == sales["rest"]["final_page"]
    assert emulator.world.numbers["+" + number].app_id is None  # matches no template now

    assert client.delete(f"/service/v1/inbound/{number}").status_code == 204
    assert_error(client.get(f"/service/v1/inbound/{number}"), 404, "HTTP 404")


def test_a_new_template_becomes_an_app_and_bad_configs_are_refused(client_and_emulator):
    client, emulator = client_and_emulator
    assert client.put("/service/v1/inbound/billing").status_code == 201
    assert emulator.world.app_by_name("billing")
    body = assert_error(
        client.put(
            "/service/v1/inbound/billing",
            json={"colour": "red", "rest": {"first_page": {"method": "PUT"}}},
        ),
        400,
        "HTTP 400",
    )
    assert len(body["error"]["details"]) == 2
    assert client.get("/service/v1/schema/inbound").json()["type"] == "object"


def test_services_listing_option():
    client, _ = make_client(services_listing="object")
    assert client.get("/service/v1/inbound").json() == {"services": ["sales", "support"]}


def test_release_may_delete_the_numbers_service():
    for deletes in (False, True):
        client, emulator = make_client(release_deletes_service=deletes)
        [number] = client.post(
            "/tel_purchase", data={"country": "France", "region": "Paris", "based_on": "sales"}
        ).json()
        client.post("/tel_delete_numbers", data={"numbers": number})
        assert (number in emulator.services) is not deletes


def test_state_is_ignored_for_tollfree_in_a_country_with_states(client_and_emulator):
    client, _ = client_and_emulator
    response = client.post(
        "/tel_purchase",
        data={
            "country": "United States",
            "state": "California",
            "region": "844",
            "did_type": "tollfree",
            "allow_cellular": "True",
        },
    )
    assert response.status_code == 200, response.text


def test_a_service_named_after_a_released_number_is_not_a_template(client_and_emulator):
    client, emulator = client_and_emulator
    [number] = client.post(
        "/tel_purchase", data={"country": "France", "region": "Paris", "based_on": "sales"}
    ).json()
    client.post("/tel_delete_numbers", data={"numbers": number})
    client.patch(f"/service/v1/inbound/{number}", json={"uas": {"application_name": "x"}})
    assert emulator.world.app_by_name(number) == []


def test_served_over_a_loopback_socket_behind_the_fault_injector():
    from numbers_iac.emulators.faults import FaultInjector
    from numbers_iac.emulators.serve import RunningServer

    emulator = AculabEmulator(World.builtin())
    with RunningServer(FaultInjector(emulator)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        settings = emulator.provider_settings(server.url)
        auth = (f"{settings['cloud_id']}/{settings['username']}", settings["api_key"])
        with httpx.Client(base_url=server.url, auth=auth) as client:
            bought = client.post(
                "/tel_purchase",
                data={"country": "Germany", "region": "Munich", "quantity": "2"},
            )
            assert bought.status_code == 200 and len(bought.json()) == 2
            assert set(client.get("/tel_list_numbers").json()) == set(bought.json())
