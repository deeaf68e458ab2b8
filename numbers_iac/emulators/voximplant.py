"""A Voximplant emulator: a WSGI app speaking the Management API's PhoneNumbers methods.

Wire details follow Voximplant's own method reference
(/work/shared/seeds/voximplant-phone-numbers.txt, authoritative for parameters and results)
and /work/shared/providers/voximplant.md (transport, auth, envelope, error codes), checked
against the official Python SDK (voximplant/apiclient-python, `client.py`): one POST per
method, parameters as form fields (the query string is merged in, as the legacy GET style
sends them), lists joined with ";", numbers as digits without "+", success as a flat JSON
object, failure as `{"error": {"msg", "code"}}`.

Authentication: a service-account JWT in `Authorization: Bearer` (RS256, header `kid`,
claims `iss` = account id, `iat`, `exp`), verified against the key file's public key, or the
deprecated `account_id` + `api_key` parameters. The key pair is generated when the emulator
starts unless one is given: no private key is ever stored in the repository.

How the World maps onto Voximplant:
- number types: local -> GEOGRAPHIC, mobile -> MOBILE, tollfree -> TOLLFREE; national groups
  are not offered (Voximplant names no such category);
- each World group is one phone region: `phone_region_id` 1000 + its index in the catalogue,
  `phone_region_name` the city of a geographic group ("Amiens"), otherwise its prefix;
  `phone_region_code` the group's prefix; `phone_count` its stock;
- states: `states` maps (ISO, city) -> state code; a country with any entry "has states"
  and its GEOGRAPHIC regions are listed per `country_state`;
- `phone_id`s are handed out on first sight of a number (from 1620500), never reused;
- applications: each World app is listed as `{name}.{account_name}.voximplant.com`; rules
  are added with `add_rule`;
- a World number still pending (a regulated group) lists as `activation_status: ACTIVATING`.

Options for UNCONFIRMED behaviour and for tests:
- `error_status` (200): the HTTP status of an error body (every SDK reads `error` first).
- `max_count` (100): the largest `count` GetPhoneNumbers, GetNewPhoneNumbers and
  GetApplications honour; larger asks are cut to it.
- `taken_code` (182 "occupied phone number"): the code AttachPhoneNumber answers for a
  number no longer for sale; 331/332 when the region's stock is short.
- `deactivated_listed` (False): whether a deactivated number stays in GetPhoneNumbers with
  `canceled: true` (until the end of its paid month) or leaves it at once.
- `verification_countries` ({"RU"}): attached numbers there need verification
  (`verification_status: REQUIRED`, `unverified_hold_until` `hold_days` later).
- `regulation_countries` / `regulation_addresses`: countries whose regions need a
  `regulation_address_id` (error 485 without one), and address id -> ISO country (424 when
  the country differs).
- `rebind_moves` (True): binding a number bound to another application moves it; with
  False it is refused (code 101, "unbind it first"), as the reference's advice suggests.
- `sandbox_countries`: countries whose inventory is the sandbox's (`sandbox=true` lists only
  those, `sandbox=false` none of them; absent or `all`: both).
"""

from __future__ import annotations

import datetime
import email.parser
import email.policy
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from numbers_iac.emulators.wsgi import Request, StartResponse, json_response
from numbers_iac.simulation import world as world_module

DEFAULT_ACCOUNT_ID = "1000001"
DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_ACCOUNT_NAME = "emulator"
DEFAULT_KEY_ID = "emulator-key-0001"
ENV_ACCOUNT_ID = "VOXIMPLANT_ACCOUNT_ID"
ENV_API_KEY = "VOXIMPLANT_API_KEY"
FIRST_PHONE_ID = 1_620_500
FIRST_REGION_ID = 1000
MAX_TOKEN_LIFETIME = 3600

#: the World's number types -> Voximplant's phone_category_name. Kept apart from the
#: adapter's table on purpose: an emulator that borrowed the adapter's reading of the API
#: would agree with its mistakes instead of catching them.
CATEGORIES = {"local": "GEOGRAPHIC", "mobile": "MOBILE", "tollfree": "TOLLFREE"}
NUMBER_TYPES = {category: ours for ours, category in CATEGORIES.items()}
CATEGORY_NAMES = {"GEOGRAPHIC": "Geographic", "MOBILE": "Mobile", "TOLLFREE": "Toll free"}
#: the built-in catalogue's US cities -> their state codes
DEFAULT_STATES = {
    ("US", "San Francisco"): "CA",
    ("US", "New York"): "NY",
    ("US", "Chicago"): "IL",
    ("US", "Seattle"): "WA",
    ("US", "Boston"): "MA",
    ("US", "Anchorage"): "AK",
}
STATE_NAMES = {
    "CA": "California",
    "NY": "New York",
    "IL": "Illinois",
    "WA": "Washington",
    "MA": "Massachusetts",
    "AK": "Alaska",
}
CALLING_CODES = {"US": "1", "GB": "44", "FR": "33", "DE": "49", "AU": "61", "RU": "7"}
ORDERS = {
    "phone_number": (lambda r: r["phone_number"], False),
    "phone_price": (lambda r: (r["phone_price"], r["phone_number"]), False),
    "phone_country_code": (lambda r: (r["phone_country_code"], r["phone_number"]), False),
    "purchase_date": (lambda r: (r["phone_purchase_date"], r["phone_id"]), True),
    "phone_next_renewal": (lambda r: (r["phone_next_renewal"], r["phone_number"]), False),
    "deactivated": (lambda r: (not r["deactivated"], r["phone_number"]), False),
}
#: methods that change the account (the crash tests kill after each of them)
MUTATING_METHODS = frozenset(
    {
        "AttachPhoneNumber",
        "BindPhoneNumberToApplication",
        "DeactivatePhoneNumber",
        "SetPhoneNumberInfo",
    }
)


class VoximplantApiError(Exception):
    """An error the emulator answers with Voximplant's `{"error": {"msg", "code"}}` body."""

    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class Region:
    """One World group as a Voximplant phone region."""

    region_id: int
    group: Any
    category: str
    state: str | None
    name: str
    code: str


def generate_service_account(
    account_id: int | str = DEFAULT_ACCOUNT_ID, key_id: str = DEFAULT_KEY_ID
) -> dict[str, Any]:
    """A fresh service-account key file (as Voximplant's console hands it out), with a
    2048-bit RSA key made now: tests and the emulator never ship a private key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return {
        "account_email": "emulator@example.invalid",
        "account_id": int(account_id),
        "key_id": key_id,
        "private_key": pem,
    }


def public_key_of(service_account: Mapping[str, Any]) -> Any:
    private = serialization.load_pem_private_key(
        str(service_account["private_key"]).encode(), password=None
    )
    return private.public_key()


def _bool(value: str | None, default: bool | None = None) -> bool | None:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise VoximplantApiError(101, f"Invalid arguments: {value!r} is not a boolean")


def _int(q: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = q.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise VoximplantApiError(101, f"Invalid arguments: {name} must be a number") from None


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def _city(region: str | None) -> str | None:
    if not region:
        return None
    return region.split(",")[0].strip().title()


def _money(value: Decimal | None) -> float:
    return float(Decimal(value or 0))


class VoximplantEmulator:
    """WSGI app emulating one Voximplant account backed by `world` (see the module docstring
    for the options). `auth_id` is the account id and `auth_token` the deprecated API key
    (names shared with the other emulators so `numbers_iac.emulators.serve` can pass them);
    `service_account` the key file whose public key verifies JWTs."""

    env_credentials = (ENV_ACCOUNT_ID, ENV_API_KEY)
    default_credentials = (DEFAULT_ACCOUNT_ID, DEFAULT_API_KEY)

    def __init__(
        self,
        world: Any,
        auth_id: str = DEFAULT_ACCOUNT_ID,
        auth_token: str = DEFAULT_API_KEY,
        *,
        service_account: Mapping[str, Any] | None = None,
        account_name: str = DEFAULT_ACCOUNT_NAME,
        error_status: int = 200,
        max_count: int = 100,
        taken_code: int = 182,
        deactivated_listed: bool = False,
        verification_countries: Iterable[str] = ("RU",),
        hold_days: int = 30,
        regulation_countries: Iterable[str] = (),
        regulation_addresses: Mapping[str, str] | None = None,
        sandbox_countries: Iterable[str] = (),
        rebind_moves: bool = True,
        states: Mapping[tuple[str, str], str] | None = None,
        clock: Callable[[], float] = time.time,
        lock: threading.RLock | None = None,
    ):
        self.world = world
        self.account_id = str(auth_id)
        self.api_key = auth_token
        self.service_account = dict(
            service_account or generate_service_account(self.account_id, DEFAULT_KEY_ID)
        )
        self.public_keys = {
            str(self.service_account["key_id"]): public_key_of(self.service_account)
        }
        self.account_name = account_name
        self.error_status = error_status
        self.max_count = max_count
        self.taken_code = taken_code
        self.deactivated_listed = deactivated_listed
        self.verification_countries = {c.upper() for c in verification_countries}
        self.hold_days = hold_days
        self.regulation_countries = {c.upper() for c in regulation_countries}
        self.regulation_addresses = {
            str(k): v.upper() for k, v in (regulation_addresses or {}).items()
        }
        self.sandbox_countries = {c.upper() for c in sandbox_countries}
        self.rebind_moves = rebind_moves
        self.states = dict(DEFAULT_STATES if states is None else states)
        self.clock = clock
        #: the World is not thread-safe; every request holds this while it touches it
        self.lock = lock or threading.RLock()
        self._phone_ids: dict[str, int] = {}
        self._numbers_by_id: dict[int, str] = {}
        self._rules: dict[str, list[tuple[int, str]]] = {}  # app id -> [(rule id, name)]
        self._next_rule = 77
        self.rule_of: dict[str, int] = {}  # number -> bound rule id
        self.verification: dict[str, dict[str, Any]] = {}  # number -> verification fields
        self.sms_urls: dict[str, str] = {}
        self.canceled: dict[str, dict[str, Any]] = {}  # number -> its last listing record
        #: bumped on every change the World does not see (rules, verification, SMS URLs)
        self._revision = 0
        self._records_cache: tuple[tuple[int, int], list[dict[str, Any]]] | None = None
        #: the last listing's filtered, ordered rows, so each page of a walk is a slice
        self._rows_cache: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        self.methods: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
            "GetPhoneNumberCategories": self.get_categories,
            "GetPhoneNumberCountryStates": self.get_country_states,
            "GetPhoneNumberRegions": self.get_regions,
            "GetActualPhoneNumberRegion": self.get_actual_region,
            "GetNewPhoneNumbers": self.get_new_numbers,
            "AttachPhoneNumber": self.attach,
            "GetPhoneNumbers": self.get_numbers,
            "IsAccountPhoneNumber": self.is_account_number,
            "BindPhoneNumberToApplication": self.bind,
            "DeactivatePhoneNumber": self.deactivate,
            "SetPhoneNumberInfo": self.set_info,
            "GetAccountPhoneNumberCountries": self.get_countries,
            "GetApplications": self.get_applications,
            "GetRules": self.get_rules,
        }

    def provider_settings(self, base_url: str) -> dict[str, Any]:
        """Settings a `type: voximplant` provider needs to talk to this emulator."""
        return {"credentials": json.dumps(self.service_account), "base_url": base_url}

    # ----------------------------------------------------------------- test helpers
    def add_rule(self, app_name: str, rule_name: str) -> int:
        """Create a routing rule on the app named `app_name`; returns its id."""
        (app_id,) = self.world.app_by_name(app_name)
        rule_id = self._next_rule
        self._next_rule += 1
        self._rules.setdefault(app_id, []).append((rule_id, rule_name))
        return rule_id

    def verify(self, number: str) -> None:
        """The account's verification went through: the number can be used."""
        fields = self.verification.get(number)
        self._revision += 1
        if fields is not None:
            fields.update(verification_status="VERIFIED", can_be_used=True)
            fields.pop("unverified_hold_until", None)

    def phone_id(self, number: str) -> int:
        """The number's phone_id, handed out on first sight."""
        found = self._phone_ids.get(number)
        if found is None:
            found = FIRST_PHONE_ID + len(self._phone_ids)
            self._phone_ids[number] = found
            self._numbers_by_id[found] = number
        return found

    # ----------------------------------------------------------------- WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            response = json_response(200, self.handle(request, environ.get("QUERY_STRING", "")))
        except VoximplantApiError as exc:
            body = {"error": {"msg": exc.msg, "code": exc.code}}
            response = json_response(self.error_status, body)
        except Exception as exc:  # an emulator bug: answer like a server error, visibly
            body = {"error": {"msg": f"emulator error: {type(exc).__name__}: {exc}", "code": 2}}
            response = json_response(500, body)
        return response(start_response)

    def handle(self, request: Request, raw_query: str) -> dict[str, Any]:
        if request.method not in ("GET", "POST"):
            raise VoximplantApiError(103, f"Unknown command: {request.method} is not served")
        params = self._params(request, raw_query)
        path = request.path.rstrip("/")
        if path == "/platform_api":
            command = params.get("cmd", "")
            if not command:
                raise VoximplantApiError(102, "Missing the 'cmd' parameter")
        elif path.startswith("/platform_api/"):
            command = path.removeprefix("/platform_api/")
        else:
            raise VoximplantApiError(103, f"Unknown command: {request.path}")
        self._authenticate(request, params)
        method = self.methods.get(command)
        if method is None:
            raise VoximplantApiError(103, f"Unknown command: {command}")
        with self.lock:
            return method(params)

    # ----------------------------------------------------------------- parameters and auth
    @staticmethod
    def _params(request: Request, raw_query: str) -> dict[str, str]:
        pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
        content_type = request.headers.get("Content-Type", "")
        if request.body and content_type.startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                head + request.body
            )
            for part in message.iter_parts():
                content = part.get_content()
                text = content.decode() if isinstance(content, bytes) else content
                pairs.append((part.get_param("name", header="content-disposition"), text))
        elif request.body:
            pairs += urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True)
        return dict(pairs)

    def _authenticate(self, request: Request, params: Mapping[str, str]) -> None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            self._check_token(header[7:].strip())
            return
        if params.get("account_id") == self.account_id and params.get("api_key") == self.api_key:
            return
        raise VoximplantApiError(100, "Authorization failed")

    def _check_token(self, token: str) -> None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise VoximplantApiError(447, "Invalid token format") from None
        key = self.public_keys.get(str(header.get("kid")))
        if header.get("alg") != "RS256" or key is None:
            raise VoximplantApiError(100, "Authorization failed")
        try:
            payload = jwt.PyJWS().decode(token, key, algorithms=["RS256"])
            claims = json.loads(payload)
        except jwt.InvalidSignatureError:
            raise VoximplantApiError(100, "Authorization failed") from None
        except (jwt.PyJWTError, ValueError):
            raise VoximplantApiError(447, "Invalid token format") from None
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or "iss" not in claims:
            raise VoximplantApiError(447, "Invalid token format")
        if str(claims["iss"]) != self.account_id:
            raise VoximplantApiError(100, "Authorization failed")
        now = self.clock()
        if exp - iat > MAX_TOKEN_LIFETIME:
            raise VoximplantApiError(454, "The token TTL is too long")
        if iat > now + 60:
            raise VoximplantApiError(455, "The token is issued in the future")
        if exp < now:
            raise VoximplantApiError(456, "The token has expired")

    # ----------------------------------------------------------------- catalogue
    def _sandbox_filter(self, q: Mapping[str, str]) -> Callable[[str], bool]:
        mode = (q.get("sandbox") or "all").lower()
        if mode not in ("all", "true", "false"):
            raise VoximplantApiError(101, "Invalid arguments: sandbox is all, true or false")
        if mode == "all":
            return lambda country: True
        wanted = mode == "true"
        return lambda country: (country.upper() in self.sandbox_countries) == wanted

    def _regions(self) -> list[Region]:
        regions = []
        for index, group in enumerate(self.world.groups):
            category = CATEGORIES.get(group.number_type)
            if category is None:
                continue
            city = _city(group.region) if category == "GEOGRAPHIC" else None
            state = self.states.get((group.country, city or "")) if city else None
            regions.append(
                Region(
                    FIRST_REGION_ID + index,
                    group,
                    category,
                    state,
                    city or group.prefix,
                    group.prefix,
                )
            )
        return regions

    def _has_states(self, country: str) -> bool:
        return any(c == country for c, _ in self.states)

    def _category(self, q: Mapping[str, str], country: str) -> str:
        category = (q.get("phone_category_name") or "").upper()
        if not category:
            raise VoximplantApiError(485, "Specify the 'phone_category_name' parameter")
        if not any(r.category == category and r.group.country == country for r in self._regions()):
            raise VoximplantApiError(240, f"Invalid phone_category_name: {category}")
        return category

    def _country(self, q: Mapping[str, str]) -> str:
        country = (q.get("country_code") or "").upper()
        if not country:
            raise VoximplantApiError(485, "Specify the 'country_code' parameter")
        if not any(r.group.country == country for r in self._regions()):
            raise VoximplantApiError(239, f"Invalid country_code: {country}")
        return country

    def _state(self, q: Mapping[str, str], country: str, category: str) -> str | None:
        state = (q.get("country_state") or "").upper() or None
        if category != "GEOGRAPHIC" or not self._has_states(country):
            return None if state is None else self._no_states(state)
        if state is not None and state not in {
            s for (c, _), s in self.states.items() if c == country
        }:
            raise VoximplantApiError(242, f"Invalid country_state: {state}")
        return state

    @staticmethod
    def _no_states(state: str) -> None:
        raise VoximplantApiError(242, f"Invalid country_state: {state} (no states here)")

    def get_categories(self, q: dict[str, str]) -> dict[str, Any]:
        wanted = {c.upper() for c in _list(q.get("country_code"))}
        in_sandbox = self._sandbox_filter(q)
        countries: dict[str, list[str]] = {}
        for region in self._regions():
            country = region.group.country
            if (wanted and country not in wanted) or not in_sandbox(country):
                continue
            categories = countries.setdefault(country, [])
            if region.category not in categories:
                categories.append(region.category)
        result = [
            {
                "country_code": country,
                "localized_country_name": country,
                "phone_prefix": CALLING_CODES.get(country, ""),
                "can_list_phone_numbers": True,
                "emergency_calls_to_be_enabled": False,
                "phone_categories": [
                    {
                        "phone_category_name": category,
                        "country_has_states": category == "GEOGRAPHIC"
                        and self._has_states(country),
                        "localized_phone_category_name": CATEGORY_NAMES[category],
                    }
                    for category in categories
                ],
            }
            for country, categories in sorted(countries.items())
        ]
        return {"result": result, "count": len(result)}

    def get_country_states(self, q: dict[str, str]) -> dict[str, Any]:
        country = self._country(q)
        category = self._category(q, country)
        asked = (q.get("country_state") or "").upper()
        states = sorted(
            {
                r.state
                for r in self._regions()
                if r.group.country == country and r.category == category and r.state
            }
        )
        result = [
            {
                "country_state": s,
                "country_state_name": STATE_NAMES.get(s, s),
                "can_list_phone_numbers": True,
            }
            for s in states
            if not asked or s == asked
        ]
        return {"result": result, "count": len(result)}

    def _matching_regions(self, q: Mapping[str, str], need_state: bool) -> list[Region]:
        country = self._country(q)
        category = self._category(q, country)
        state = self._state(q, country, category)
        if need_state and state is None and category == "GEOGRAPHIC" and self._has_states(country):
            raise VoximplantApiError(485, "Specify the 'country_state' parameter")
        return [
            r
            for r in self._regions()
            if r.group.country == country
            and r.category == category
            and (state is None or r.state == state)
        ]

    def get_regions(self, q: dict[str, str]) -> dict[str, Any]:
        regions = self._matching_regions(q, need_state=True)
        region_id = _int(q, "phone_region_id")
        name = (q.get("phone_region_name") or "").casefold()
        code = q.get("phone_region_code") or ""
        omit_empty = _bool(q.get("omit_empty"), True)
        result = [
            self._region_record(r)
            for r in regions
            if (region_id is None or r.region_id == region_id)
            and (not name or r.name.casefold() == name)
            and (not code or r.code == code)
            and not (omit_empty and r.group.stock <= 0)
        ]
        return {"result": result, "count": len(result)}

    def get_actual_region(self, q: dict[str, str]) -> dict[str, Any]:
        region = self._region(q)
        return {"result": self._region_record(region)}

    def _region(self, q: Mapping[str, str]) -> Region:
        region_id = _int(q, "phone_region_id")
        if region_id is None:
            raise VoximplantApiError(485, "Specify the 'phone_region_id' parameter")
        for region in self._matching_regions(q, need_state=False):
            if region.region_id == region_id:
                return region
        raise VoximplantApiError(241, f"Invalid phone_region_id: {region_id}")

    def _needs_address(self, region: Region) -> bool:
        return region.group.country in self.regulation_countries

    def _region_record(self, region: Region) -> dict[str, Any]:
        group = region.group
        needs_address = self._needs_address(region)
        verification = group.country in self.verification_countries
        return {
            "phone_region_id": region.region_id,
            "phone_region_name": region.name,
            "phone_region_code": region.code,
            "localized_phone_region_name": region.name,
            "phone_count": max(group.stock, 0),
            "phone_period": "0-1-0 0:0:0",
            "is_need_regulation_address": needs_address,
            "regulation_address_type": "LOCAL" if needs_address else None,
            "is_sms_supported": "sms" in group.capabilities,
            "required_verification": group.country if verification else None,
            "verification_status": "REQUIRED" if verification else None,
            "phone_price": _money(group.monthly),
            "phone_installation_price": _money(group.setup),
            "account_price": _money(group.monthly),
            "account_installation_price": _money(group.setup),
            "account_currency": group.currency,
            "local_price": _money(group.monthly),
            "local_installation_price": _money(group.setup),
            "local_currency": group.currency,
            "phone_tax_reserve": 0,
            "phone_installation_tax_reserve": 0,
            "multiple_numbers_price": [],
        }

    # ----------------------------------------------------------------- search and attach
    def _count(self, q: Mapping[str, str], default: int) -> tuple[int, int]:
        count = _int(q, "count", default) or 0
        offset = _int(q, "offset", 0) or 0
        if count < 0 or offset < 0:
            raise VoximplantApiError(101, "Invalid arguments: count and offset must be >= 0")
        return min(count, self.max_count), offset

    def get_new_numbers(self, q: dict[str, str]) -> dict[str, Any]:
        region = self._region(q)
        count, offset = self._count(q, 20)
        group = region.group
        try:
            found, total = self.world.search(
                group.country, group.number_type, prefix=group.prefix, limit=count, offset=offset
            )
        except world_module.UnknownRegion:
            found, total = [], 0
        found = [a for a in found if a.group is group]
        result = [
            {
                "phone_id": self.phone_id(a.number),
                "phone_number": a.number.lstrip("+"),
                "phone_price": _money(group.monthly),
                "phone_installation_price": _money(group.setup),
                "phone_country_code": group.country,
                "phone_period": "0-1-0 0:0:0",
                "phone_category_name": region.category,
                "phone_region_name": region.name,
                "phone_tax_reserve": 0,
                "phone_installation_tax_reserve": 0,
            }
            for a in found
        ]
        return {"result": result, "count": len(result), "total_count": total}

    def attach(self, q: dict[str, str]) -> dict[str, Any]:
        region = self._region(q)
        given = [name for name in ("phone_count", "phone_number") if q.get(name)]
        if len(given) != 1:
            raise VoximplantApiError(
                458, "Only one of the parameters phone_count, phone_number is allowed"
            )
        self._check_address(region, q.get("regulation_address_id"))
        if given == ["phone_count"]:
            count = _int(q, "phone_count") or 0
            if count < 1:
                raise VoximplantApiError(243, "Invalid phone_count")
            self._check_stock(region, count)
            bought = self.world.buy_from_groups([region.group], count)
        else:
            numbers = ["+" + d.lstrip("+") for d in _list(q["phone_number"])]
            self._check_stock(region, len(numbers))
            for number in numbers:  # all or nothing: check every number before buying any
                self._check_for_sale(number, region)
            bought = [self.world.buy(number) for number in numbers]
        return {"result": 1, "phone_numbers": [self._attached(n) for n in bought]}

    def _check_address(self, region: Region, address: str | None) -> None:
        if not self._needs_address(region):
            return
        if not address:
            raise VoximplantApiError(485, "Specify the 'regulation_address_id' parameter")
        if self.regulation_addresses.get(address) != region.group.country:
            raise VoximplantApiError(424, "The regulation address does not fit the region")

    @staticmethod
    def _check_stock(region: Region, count: int) -> None:
        stock = max(region.group.stock, 0)
        if stock == 0:
            raise VoximplantApiError(331, "No phones in stock")
        if stock < count:
            raise VoximplantApiError(332, f"Insufficient phones in stock (available {stock})")

    def _check_for_sale(self, number: str, region: Region) -> None:
        if number in self.world.numbers:
            raise VoximplantApiError(395, f"The phone number {number.lstrip('+')} is yours")
        try:
            group = self.world.group_for_sale(number)
        except world_module.NotForSale:
            raise VoximplantApiError(
                self.taken_code, f"Occupied phone number {number.lstrip('+')}"
            ) from None
        if group is not region.group:
            raise VoximplantApiError(121, f"Invalid phone number {number.lstrip('+')}")

    def _attached(self, owned: Any) -> dict[str, Any]:
        self._revision += 1
        record: dict[str, Any] = {
            "phone_id": self.phone_id(owned.number),
            "phone_number": owned.number.lstrip("+"),
            "subscription_id": self.phone_id(owned.number) - FIRST_PHONE_ID + 32_000,
        }
        if owned.country in self.verification_countries:
            hold = datetime.date.today() + datetime.timedelta(days=self.hold_days)
            self.verification[owned.number] = {
                "required_verification": owned.country,
                "verification_status": "REQUIRED",
                "unverified_hold_until": hold.isoformat(),
                "can_be_used": False,
            }
        record.update(self.verification.get(owned.number, {"verification_status": "VERIFIED"}))
        record.pop("can_be_used", None)
        return record

    # ----------------------------------------------------------------- owned numbers
    def _owned_record(self, number: Any, regions: Mapping[str, Region]) -> dict[str, Any]:
        region = regions.get(number.group_id or "")
        added = number.added_on or datetime.date.today().isoformat()
        renewal = (datetime.date.fromisoformat(added) + datetime.timedelta(days=31)).isoformat()
        record: dict[str, Any] = {
            "phone_id": self.phone_id(number.number),
            "phone_number": number.number.lstrip("+"),
            "phone_price": _money(number.monthly),
            "phone_country_code": number.country,
            "category_name": CATEGORIES.get(number.number_type, number.number_type.upper()),
            "phone_region_name": region.name if region else _city(number.region),
            "phone_region_id": region.region_id if region else None,
            "phone_purchase_date": f"{added} 00:00:00",
            "phone_next_renewal": renewal,
            "auto_charge": True,
            "deactivated": False,
            "canceled": False,
            "can_be_used": True,
            "is_sms_supported": "sms" in number.capabilities,
            "is_sms_enabled": False,
            "subscription_id": self.phone_id(number.number) - FIRST_PHONE_ID + 32_000,
            "modified": f"{added} 00:00:00",
            "account_id": int(self.account_id),
            "activation_status": "ACTIVATING" if number.status == "pending" else "ACTIVE",
            "verification_status": "NOT_REQUIRED",
            "phone_tags": [],
            "issues": [],
        }
        record.update(self.verification.get(number.number, {}))
        if number.app_id is not None:
            record["application_id"] = int(number.app_id)
            record["application_name"] = self._full_name(self.world.apps[number.app_id])
            rule_id = self.rule_of.get(number.number)
            for known_id, rule_name in self._rules.get(number.app_id, []):
                if known_id == rule_id:
                    record.update(rule_id=rule_id, rule_name=rule_name)
        if number.number in self.sms_urls:
            record["incoming_sms_callback_url"] = self.sms_urls[number.number]
        return record

    def _all_records(self, regions: Mapping[str, Region]) -> list[dict[str, Any]]:
        """Every owned number's record, built once per change of the account: a full walk
        asks for every page, and rebuilding 10,000 records per page made it quadratic."""
        key = (self.world.version, self._revision)
        if self._records_cache is None or self._records_cache[0] != key:
            records = [self._owned_record(n, regions) for n in self.world.numbers.values()]
            self._records_cache = (key, records)
        return self._records_cache[1]

    def get_numbers(self, q: dict[str, str]) -> dict[str, Any]:
        count, offset = self._count(q, 100)
        rows = self._listed_rows(q)
        page = rows[offset : offset + count]
        return {"result": page, "count": len(page), "total_count": len(rows)}

    def _listed_rows(self, q: dict[str, str]) -> list[dict[str, Any]]:
        """GetPhoneNumbers' rows for a query, before paging: filtering and ordering 100,000
        records for every page of a walk made the emulator, not the client, the bottleneck."""
        asked = tuple(sorted((k, v) for k, v in q.items() if k not in ("count", "offset")))
        cache_key = (self.world.version, self._revision, len(self.canceled), asked)
        if self._rows_cache is not None and self._rows_cache[0] == cache_key:
            return self._rows_cache[1]
        in_sandbox = self._sandbox_filter(q)
        ids = {int(i) for i in _list(q.get("phone_id")) if i.isdigit()}
        digits = set(_list(q.get("phone_number")))
        app_id = q.get("application_id") or None
        canceled = _bool(q.get("canceled"))
        regions = {r.group.group_id: r for r in self._regions()}
        rows = [
            record
            for record in self._all_records(regions)
            if in_sandbox(record["phone_country_code"])
            and (app_id is None or str(record.get("application_id")) == app_id)
            and (not digits or record["phone_number"] in digits)
        ]
        if self.deactivated_listed and canceled is not False:
            rows += [
                r
                for number, r in self.canceled.items()
                if number not in self.world.numbers
                and (not digits or r["phone_number"] in digits)
                and app_id is None
            ]
        if canceled is True:
            rows = [r for r in rows if r["canceled"]]
        if ids:
            rows = [r for r in rows if r["phone_id"] in ids]
        order = q.get("order_by") or ""
        if order and order not in ORDERS:
            raise VoximplantApiError(101, f"Invalid arguments: order_by {order!r}")
        key, reverse = ORDERS.get(order, (lambda r: r["phone_id"], False))
        rows.sort(key=key, reverse=reverse)
        self._rows_cache = (cache_key, rows)
        return rows

    def is_account_number(self, q: dict[str, str]) -> dict[str, Any]:
        digits = (q.get("phone_number") or "").lstrip("+")
        if not digits:
            raise VoximplantApiError(485, "Specify the 'phone_number' parameter")
        return {"result": "+" + digits in self.world.numbers}

    def _selected(self, q: Mapping[str, str]) -> list[str]:
        """The owned numbers `phone_id` or `phone_number` name (`all`: every one)."""
        given = [name for name in ("phone_id", "phone_number") if q.get(name)]
        if len(given) != 1:
            raise VoximplantApiError(
                458, "Only one of the parameters phone_id, phone_number is allowed"
            )
        values = _list(q[given[0]])
        if values == ["all"]:
            return sorted(self.world.numbers)
        numbers = []
        for value in values:
            if given[0] == "phone_id":
                number = self._numbers_by_id.get(int(value)) if value.isdigit() else None
                if number is None or number not in self.world.numbers:
                    raise VoximplantApiError(181, f"Invalid phone_id: {value}")
            else:
                number = "+" + value.lstrip("+")
                if number not in self.world.numbers:
                    raise VoximplantApiError(121, f"Invalid phone number: {value}")
            numbers.append(number)
        return numbers

    def bind(self, q: dict[str, str]) -> dict[str, Any]:
        numbers = self._selected(q)
        self._revision += 1
        app_id = self._application(q)
        rule_id = self._rule(q, app_id)
        if _bool(q.get("bind"), True):
            elsewhere = [n for n in numbers if self.world.numbers[n].app_id not in (None, app_id)]
            if elsewhere and not self.rebind_moves:
                raise VoximplantApiError(
                    101,
                    f"The phone number {elsewhere[0].lstrip('+')} is bound to another "
                    "application: unbind it first",
                )
            for number in numbers:
                self.world.update(number, app_id=app_id)
                if rule_id is None:
                    self.rule_of.pop(number, None)
                else:
                    self.rule_of[number] = rule_id
        else:
            for number in numbers:
                if self.world.numbers[number].app_id == app_id:
                    self.world.update(number, app_id=None)
                    self.rule_of.pop(number, None)
        return {"result": 1}

    def _application(self, q: Mapping[str, str]) -> str:
        if q.get("application_id") and q.get("application_name"):
            raise VoximplantApiError(
                458, "Only one of the parameters application_id, application_name is allowed"
            )
        if q.get("application_id"):
            app_id = q["application_id"]
            if app_id not in self.world.apps:
                raise VoximplantApiError(116, f"Invalid application_id: {app_id}")
            return app_id
        name = q.get("application_name")
        if not name:
            raise VoximplantApiError(485, "Specify the 'application_id' parameter")
        for app_id, app_name in self.world.apps.items():
            if name in (app_name, self._full_name(app_name)):
                return app_id
        raise VoximplantApiError(558, f"Application not found: {name}")

    def _rule(self, q: Mapping[str, str], app_id: str) -> int | None:
        rules = self._rules.get(app_id, [])
        if q.get("rule_id"):
            rule_id = _int(q, "rule_id")
            if rule_id not in {i for i, _ in rules}:
                raise VoximplantApiError(147, f"Invalid rule_id: {q['rule_id']}")
            return rule_id
        if q.get("rule_name"):
            for rule_id, name in rules:
                if name == q["rule_name"]:
                    return rule_id
            raise VoximplantApiError(156, f"Invalid rule_name: {q['rule_name']}")
        return None

    def deactivate(self, q: dict[str, str]) -> dict[str, Any]:
        numbers = self._selected(q)
        regions = {r.group.group_id: r for r in self._regions()}
        for number in numbers:
            if self.deactivated_listed:
                record = self._owned_record(self.world.numbers[number], regions)
                record.update(canceled=True, can_be_used=False)
                record.pop("application_id", None)
                record.pop("application_name", None)
                self.canceled[number] = record
            self.world.release(number)
            self.rule_of.pop(number, None)
        return {"result": 1}

    def set_info(self, q: dict[str, str]) -> dict[str, Any]:
        self._revision += 1
        for number in self._selected(q):
            url = q.get("incoming_sms_callback_url")
            if url:
                self.sms_urls[number] = url
            else:
                self.sms_urls.pop(number, None)
        return {"result": 1}

    def get_countries(self, q: dict[str, str]) -> dict[str, Any]:
        apps = set(_list(q.get("application_id")))
        countries = {n.country for n in self.world.numbers.values() if not apps or n.app_id in apps}
        return {"result": sorted(countries)}

    # ----------------------------------------------------------------- applications
    def _full_name(self, name: str) -> str:
        if name.endswith(".voximplant.com"):
            return name
        return f"{name}.{self.account_name}.voximplant.com"

    def get_applications(self, q: dict[str, str]) -> dict[str, Any]:
        count, offset = self._count(q, 20)
        wanted_id = q.get("application_id")
        fragment = q.get("application_name") or ""
        rows = [
            {
                "application_id": int(app_id),
                "application_name": self._full_name(name),
                "extended_application_name": self._full_name(name).replace(
                    ".voximplant.com", ".n2.voximplant.com"
                ),
                "created": "2022-05-04 15:42:32",
                "modified": "2022-05-04 15:42:32",
                "secure_record_storage": True,
            }
            for app_id, name in sorted(self.world.apps.items(), key=lambda item: int(item[0]))
            if (not wanted_id or app_id == wanted_id) and fragment in self._full_name(name)
        ]
        page = rows[offset : offset + count]
        return {"result": page, "count": len(page), "total_count": len(rows)}

    def get_rules(self, q: dict[str, str]) -> dict[str, Any]:
        app_id = self._application(q)
        count, offset = self._count(q, 20)
        fragment = q.get("rule_name") or ""
        rows = [
            {
                "rule_id": rule_id,
                "application_id": int(app_id),
                "rule_name": name,
                "rule_pattern": ".*",
                "video_conference": False,
                "modified": "2022-05-04 15:42:32",
            }
            for rule_id, name in self._rules.get(app_id, [])
            if fragment in name
        ]
        page = rows[offset : offset + count]
        return {"result": page, "count": len(page), "total_count": len(rows)}
