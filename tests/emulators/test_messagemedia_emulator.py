"""The MessageMedia emulator speaks the Dedicated Numbers API's wire format: paths, Basic and
HMAC authentication (as MessageMedia's SDKs sign and as its reference describes), token
paging, assignment bodies, error bodies and status codes (shared/providers/messagemedia.md).
These tests talk HTTP to it directly, with no adapter in between."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import time

import httpx
import pytest

from numbers_iac.emulators.messagemedia import MessageMediaEmulator, classification, number_id
from numbers_iac.simulation import World

KEY, SECRET = "mm-key", "mm-secret"
BASE = "/v1/messaging/numbers/dedicated"


def client(world: World, **options) -> tuple[httpx.Client, MessageMediaEmulator]:
    emulator = MessageMediaEmulator(world, KEY, SECRET, **options)
    transport = httpx.WSGITransport(app=emulator)
    http = httpx.Client(transport=transport, base_url="http://mm.invalid", auth=(KEY, SECRET))
    return http, emulator


@pytest.fixture
def world() -> World:
    return World.from_seed({"owned": 0})


@pytest.fixture
def api(world):
    http, _ = client(world)
    with http:
        yield http


def sdk_headers(method: str, target: str, body: bytes | None, *, lower_date: bool = True):
    """Headers as MessageMedia's Python SDK builds them: HMAC-SHA1, `date`, `x-Content-MD5`."""
    date = email.utils.formatdate(time.time(), usegmt=True)
    name = "date" if lower_date else "Date"
    lines, names, headers = [f"{name}: {date}"], [name], {name: date}
    if body is not None:
        md5 = hashlib.md5(body).hexdigest()
        headers["x-Content-MD5"] = md5
        lines.append(f"x-Content-MD5: {md5}")
        names.append("x-Content-MD5")
    lines.append(f"{method} {target} HTTP/1.1")
    names.append("request-line")
    mac = hmac.new(SECRET.encode(), "\n".join(lines).encode(), hashlib.sha1).digest()
    headers["Authorization"] = (
        f'hmac username="{KEY}", algorithm="hmac-sha1", headers="{" ".join(names)}", '
        f'signature="{base64.b64encode(mac).decode()}"'
    )
    return headers


def documented_headers(method: str, target: str, body: bytes | None, secret: str = SECRET):
    """Headers as the API reference describes them: HMAC-SHA256, `Date`, `Content-MD5`."""
    date = email.utils.formatdate(time.time(), usegmt=True)
    lines, names, headers = [f"Date: {date}"], ["Date"], {"Date": date}
    if body is not None:
        md5 = hashlib.md5(body).hexdigest()
        headers["Content-MD5"] = md5
        lines.append(f"Content-MD5: {md5}")
        names.append("Content-MD5")
    lines.append(f"{method} {target} HTTP/1.1")
    names.append("request-line")
    mac = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    headers["Authorization"] = (
        f'hmac username="{KEY}", algorithm="hmac-sha256", headers="{" ".join(names)}", '
        f'signature="{base64.b64encode(mac).decode()}"'
    )
    return headers


def search(api: httpx.Client, **params) -> dict:
    response = api.get(BASE, params={"country": "FR", "types": "LANDLINE", **params})
    assert response.status_code == 200, response.text
    return response.json()


def assign(api: httpx.Client, ident: str, label="support", metadata=None) -> httpx.Response:
    body = {"label": label, "metadata": metadata or {}}
    return api.post(f"{BASE}/{ident}/assignment", json=body)


# --------------------------------------------------------------------------- authentication


def test_basic_auth_is_accepted_and_wrong_credentials_answer_401_with_a_message(world):
    http, _ = client(world)
    assert http.get(f"{BASE}/assignments").status_code == 200
    wrong = http.get(f"{BASE}/assignments", auth=(KEY, "nope"))
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "Invalid authentication credentials"}
    http403, _ = client(world, auth_failure_status=403)
    assert http403.get(f"{BASE}/assignments", auth=(KEY, "nope")).status_code == 403


def test_hmac_as_the_sdks_sign_it_is_verified(world):
    http, emulator = client(world)
    ident = search(http, page_size=1)["data"][0]["id"]
    http.auth = None
    target = f"{BASE}?country=FR&page_size=2"
    assert http.get(target, headers=sdk_headers("GET", target, None)).status_code == 200
    body = json.dumps({"label": "a", "metadata": {}}).encode()
    path = f"{BASE}/{ident}/assignment"
    response = http.post(path, content=body, headers=sdk_headers("POST", path, body))
    assert response.status_code == 201, response.text
    assert "hmac-sha1" in emulator.auth_log


def test_hmac_as_the_reference_describes_it_is_verified(world):
    http, emulator = client(world)
    http.auth = None
    target = f"{BASE}/assignments?page_size=10"
    assert http.get(target, headers=documented_headers("GET", target, None)).status_code == 200
    assert emulator.auth_log == ["hmac-sha256"]


@pytest.mark.parametrize(
    "spoil",
    ["secret", "body", "md5_missing", "date", "query"],
)
def test_a_bad_hmac_signature_is_refused(world, spoil):
    http, _ = client(world)
    ident = search(http, page_size=1)["data"][0]["id"]
    http.auth = None
    path = f"{BASE}/{ident}/assignment"
    body = json.dumps({"label": "a", "metadata": {}}).encode()
    headers = documented_headers(
        "POST", path, body, secret="other" if spoil == "secret" else SECRET
    )
    sent = body
    if spoil == "body":
        sent = json.dumps({"label": "b", "metadata": {}}).encode()
    elif spoil == "md5_missing":
        headers = documented_headers("POST", path, None)
    elif spoil == "date":
        headers["Date"] = email.utils.formatdate(time.time() - 3600, usegmt=True)
    elif spoil == "query":
        path += "?x=1"  # the request line signed no query
    response = http.post(path, content=sent, headers=headers)
    assert response.status_code == 401
    assert world.numbers == {}


def test_the_request_line_without_the_query_is_an_option(world):
    http, _ = client(world, request_line_query="without")
    http.auth = None
    headers = documented_headers("GET", f"{BASE}/assignments", None)
    assert http.get(f"{BASE}/assignments?page_size=5", headers=headers).status_code == 200


# --------------------------------------------------------------------------- search


def test_search_pages_by_token_with_the_same_filters(api):
    first = search(api, page_size=3)
    assert len(first["data"]) == 3 and first["pagination"]["page_size"] == 3
    token = first["pagination"]["next_token"]
    second = search(api, page_size=3, token=token)
    assert second["data"][0]["id"] == token  # the token names the next page's first number
    assert not {r["id"] for r in first["data"]} & {r["id"] for r in second["data"]}
    record = first["data"][0]
    assert set(record) == {
        "id",
        "phone_number",
        "country",
        "type",
        "classification",
        "available_after",
        "capabilities",
    }
    assert record["phone_number"].startswith("+33") and record["type"] == "LANDLINE"
    assert record["capabilities"] == ["TTS"]


def test_search_accepts_a_trailing_slash_repeated_and_comma_types(api):
    slash = api.get(f"{BASE}/", params={"country": "AU", "types": "MOBILE", "page_size": 1})
    assert slash.status_code == 200 and slash.json()["data"][0]["type"] == "MOBILE"
    both = api.get(f"{BASE}?country=AU&types=MOBILE&types=TOLL_FREE&page_size=100").json()
    assert {r["type"] for r in both["data"]} <= {"MOBILE", "TOLL_FREE"}
    comma = api.get(BASE, params={"country": "AU", "types": "TOLL_FREE,MOBILE", "page_size": 5})
    assert comma.status_code == 200


def test_search_filters_by_matching_classification_and_service_types(api):
    found = search(api, matching="33322", page_size=5)["data"]
    assert found and all("33322" in r["phone_number"] for r in found)
    gold = search(api, classification="GOLD", page_size=5)["data"]
    assert gold and {r["classification"] for r in gold} == {"GOLD"}
    bronze = search(api, classification="BRONZE", page_size=5)["data"]
    assert bronze and {classification(r["phone_number"]) for r in bronze} == {"BRONZE"}
    sms = api.get(BASE, params={"country": "AU", "service_types": "SMS", "page_size": 5}).json()
    assert sms["data"] and all("SMS" in r["capabilities"] for r in sms["data"])


@pytest.mark.parametrize(
    "params",
    [{"page_size": 101}, {"types": "FAX"}, {"classification": "PLATINUM"}, {"token": "x"}],
)
def test_bad_search_parameters_answer_400_with_details(api, params):
    response = api.get(BASE, params={"country": "FR", **params})
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("Request failed to parse") and body["details"]


# --------------------------------------------------------------------------- assignments


def test_assign_read_update_and_release(api, world):
    record = search(api, page_size=1)["data"][0]
    created = assign(api, record["id"], "support", {"team": "a", "site": "amiens"})
    assert created.status_code == 201
    assignment = created.json()
    assert assignment["number_id"] == record["id"] and assignment["label"] == "support"
    assert assignment["metadata"] == {"team": "a", "site": "amiens"}
    assert world.numbers[record["phone_number"]].alias == "support"

    path = f"{BASE}/{record['id']}/assignment"
    assert api.get(path).json() == assignment
    patched = api.patch(path, json={"metadata": {"team": "b"}})
    assert patched.status_code == 200
    assert patched.json()["metadata"] == {"team": "b"}  # replaced, never merged
    assert patched.json()["label"] == "support"  # omitted: untouched
    assert api.patch(path, json={}).status_code == 400

    assert api.delete(path).status_code == 204
    assert api.delete(path).status_code == 404
    assert api.get(path).status_code == 404
    assert api.patch(path, json={"label": "x"}).status_code == 404


def test_a_second_assignment_conflicts_like_a_taken_number(api, world):
    first, second = search(api, page_size=2)["data"]
    assert assign(api, first["id"]).status_code == 201
    again = assign(api, first["id"])
    assert again.status_code == 409 and again.json() == {"message": "Conflict"}
    world.take(second["phone_number"])
    assert assign(api, second["id"]).status_code == 409
    assert api.post(f"{BASE}/{number_id('+33999')}/assignment", json={}).status_code == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"label": "x" * 101}, "Label is invalid, maximum 100 characters."),
        ({"metadata": {f"k{i}": "v" for i in range(6)}}, "metadata: maximum 5 entries"),
        ({"metadata": {"k" * 101: "v"}}, f"Length of key {'k' * 101} exceeds 100"),
        ({"metadata": {"k": "v" * 257}}, f"Length of value {'v' * 257} exceeds 256"),
        ({"metadata": {" ": "v"}}, "metadata key must be populated"),
    ],
)
def test_assignment_limits_answer_400_with_the_servers_details(api, world, body, detail):
    record = search(api, page_size=1)["data"][0]
    response = api.post(f"{BASE}/{record['id']}/assignment", json=body)
    assert response.status_code == 400 and detail in response.json()["details"]
    assert world.numbers == {}


def test_a_released_number_is_held_for_this_account(api, world):
    record = search(api, page_size=1)["data"][0]
    assign(api, record["id"])
    api.delete(f"{BASE}/{record['id']}/assignment")
    ids = {r["id"] for r in search(api, page_size=100)["data"]}
    assert record["id"] not in ids  # hidden from search during the hold
    again = assign(api, record["id"], "back")
    assert again.status_code == 201 and again.json()["label"] == "back"


def test_us_toll_free_numbers_are_assigned_unverified(api, world):
    record = api.get(BASE, params={"country": "US", "types": "TOLL_FREE", "page_size": 1})
    ident = record.json()["data"][0]["id"]
    assign(api, ident)
    listed = api.get(f"{BASE}/assignments").json()["data"]
    assert [item["number"]["status"] for item in listed] == ["UNVERIFIED"]
    world.activate(record.json()["data"][0]["phone_number"])
    listed = api.get(f"{BASE}/assignments").json()["data"]
    assert [item["number"]["status"] for item in listed] == ["ASSIGNED"]


def test_patch_may_answer_204_as_the_docs_say(world):
    http, _ = client(world, patch_status=204)
    record = search(http, page_size=1)["data"][0]
    assign(http, record["id"])
    response = http.patch(f"{BASE}/{record['id']}/assignment", json={"label": "new"})
    assert response.status_code == 204 and response.content == b""


# --------------------------------------------------------------------------- assigned list


def test_the_assigned_list_pages_by_number_id_and_is_scoped_to_the_account():
    world = World.from_seed({"owned": 250})
    http, _ = client(world)
    ids, token, pages = [], None, 0
    while True:
        params = {"page_size": 100, **({"token": token} if token else {})}
        body = http.get(f"{BASE}/assignments", params=params).json()
        pages += 1
        ids.extend(item["number"]["id"] for item in body["data"])
        token = body["pagination"]["next_token"]
        if token is None:
            break
        assert token == sorted(number_id(n) for n in world.numbers)[len(ids)]
    assert pages == 3 and ids == sorted(ids) and len(set(ids)) == 250
    item = body["data"][0]
    assert set(item) == {"number", "assignment"}
    assert set(item["assignment"]) == {"id", "number_id", "label", "metadata"}
    assert http.get(f"{BASE}/assignments", params={"page_size": 101}).status_code == 400


def test_the_assigned_list_filters_by_label_and_matching(world):
    http, _ = client(world)
    a, b = search(http, page_size=2)["data"]
    assign(http, a["id"], "support-fr")
    assign(http, b["id"], "sales")
    labelled = http.get(f"{BASE}/assignments", params={"label": "^supp"}).json()["data"]
    assert [i["assignment"]["label"] for i in labelled] == ["support-fr"]
    digits = b["phone_number"].lstrip("+")
    matched = http.get(f"{BASE}/assignments", params={"matching": digits}).json()["data"]
    assert [i["number"]["id"] for i in matched] == [b["id"]]


def test_numbers_without_plus_and_an_account_without_the_feature(world):
    http, _ = client(world, with_plus=False)
    assert not search(http, page_size=1)["data"][0]["phone_number"].startswith("+")
    off, _ = client(world, feature_enabled=False)
    refused = off.get(BASE, params={"country": "FR"})
    assert refused.status_code == 403 and "not enabled" in refused.json()["message"]
    assert off.get(f"{BASE}/assignments").status_code == 200


def test_unknown_paths_and_ids(api):
    assert api.get(f"{BASE}/not-a-uuid").status_code == 400
    assert api.get(f"{BASE}/{number_id('+33999')}").status_code == 404
    assert api.get("/v1/other").json() == {"message": "Resource not found."}
