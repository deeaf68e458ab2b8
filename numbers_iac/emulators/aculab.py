"""An Aculab Cloud emulator: a WSGI app speaking the `tel_*` and inbound-service web services.

Wire details follow Aculab's "Managing Inbound Telephone Numbers" page
(/work/shared/seeds/aculab-inbound-numbers.txt, authoritative for the `tel_*` parameters and
response shapes) and /work/shared/providers/aculab.md (transport, auth, error bodies, inbound
services). Where Aculab's behaviour is UNCONFIRMED the choice is a constructor option, so a
test can exercise the adapter against either reading. Standard library + the World only.

How the World maps onto Aculab:
- countries: ISO alpha-2 in the World, full English names on the wire (`COUNTRY_NAMES`);
- number types: local -> "geographic", national, mobile, tollfree keep their names;
- regions: a geographic group's region ("LONDON, UNITED KINGDOM") is the region name
  "London"; other types are addressed by their national prefix ("800");
- states: the World has none, so `states` maps (ISO, region name) -> state name;
- apps: each World app is a template inbound service of the same name; a number's binding is
  the inbound service named after its digits, and the World's `app_id` follows whichever
  template that service's configuration equals.
"""

from __future__ import annotations

import copy
import datetime
import email.parser
import email.policy
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from numbers_iac.emulators.wsgi import (
    Request,
    Response,
    Router,
    StartResponse,
    empty_response,
    json_response,
)
from numbers_iac.simulation import world as world_module

DEFAULT_USERNAME = "1-2-0/emulator@example.invalid"
DEFAULT_API_KEY = "emulator-api-key"
ENV_USERNAME = "ACULAB_USERNAME"  # holds "{cloud_id}/{username}", as Basic auth sends it
ENV_API_KEY = "ACULAB_API_KEY"
ERROR_LINK = "https://www.aculab.com/cloud/web-services/web-service-errors?error="

#: ISO alpha-2 -> the country name Aculab's discovery services return. Kept apart from the
#: adapter's table on purpose: an emulator that borrowed the adapter's reading of the API
#: would agree with its mistakes instead of catching them.
COUNTRY_NAMES = {
    "AR": "Argentina",
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "BH": "Bahrain",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CL": "Chile",
    "CY": "Cyprus",
    "CZ": "Czech Republic",
    "DE": "Germany",
    "DK": "Denmark",
    "DO": "Dominican Republic",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom",
    "GE": "Georgia",
    "GR": "Greece",
    "HK": "Hong Kong",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IL": "Israel",
    "IT": "Italy",
    "JP": "Japan",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "MX": "Mexico",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PA": "Panama",
    "PE": "Peru",
    "PL": "Poland",
    "PR": "Puerto Rico",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SG": "Singapore",
    "SI": "Slovenia",
    "SK": "Slovakia",
    "SV": "El Salvador",
    "US": "United States",
    "ZA": "South Africa",
}
#: our number type -> Aculab's `did_type`
DID_TYPES = {
    "local": "geographic",
    "national": "national",
    "mobile": "mobile",
    "tollfree": "tollfree",
}
NUMBER_TYPES = {did: ours for ours, did in DID_TYPES.items()}
#: the built-in catalogue's US regions, so `tel_get_supported_states` has something to say
DEFAULT_STATES = {
    ("US", "San Francisco"): "California",
    ("US", "New York"): "New York",
    ("US", "Chicago"): "Illinois",
    ("US", "Seattle"): "Washington",
    ("US", "Boston"): "Massachusetts",
    ("US", "Anchorage"): "Alaska",
}
CALL_TYPES = ("landline", "cellular", "payphone")
SERVICE_KEYS = ("rest", "uas")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


class AculabApiError(Exception):
    """An error the emulator answers with Aculab's `{"error": {...}, "request": {...}}` body."""

    def __init__(self, status: int, code: str, text: str, details: Iterable[str] = ()):
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text
        self.details = list(details)


def _missing(name: str) -> AculabApiError:
    return AculabApiError(400, "0001", f"Mandatory parameter '{name}' is missing")


def _malformed(name: str, why: str) -> AculabApiError:
    return AculabApiError(400, "0002", f"Parameter '{name}' is malformed: {why}")


def _region_name(region: str | None) -> str | None:
    """ "MÖNCHENGLADBACH, GERMANY" -> "Mönchengladbach"."""
    if not region:
        return None
    return region.split(",")[0].strip().title()


def _text(part: Any) -> str:
    content = part.get_content()
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else content


def _merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class AculabEmulator:
    """WSGI app emulating one Aculab Cloud account backed by `world`.

    `auth_id` is the Basic-auth user `{cloud_id}/{username}`, `auth_token` the API access key
    (names shared with the other emulators so `numbers_iac.emulators.serve` can pass them).

    Options for UNCONFIRMED behaviour and for tests:
    - `country_names`: ISO -> Aculab country name (`COUNTRY_NAMES`).
    - `states`: (ISO, region name) -> state. A country with any entry "has states":
      geographic purchases there need `state` (error 0001), as the seed's Canada example.
    - `regulated`: ISO countries whose purchases need a `regulation_address` (0005), besides
      groups the World marks regulated; `regulation_addresses`: name -> {"country", "region"}.
      An address suits a purchase when its country matches (a "National" address; 0006).
    - `tollfree_forbidden`: ISO -> call types ("landline", "cellular", "payphone") that
      country refuses; asking for one fails (code `call_type_code`).
    - `unknown_location_code`, `out_of_stock_code`, `call_type_code`, `unknown_service_code`:
      Aculab's codes for an unknown country/state/region, short stock without
      `allow_partial`, a toll-free purchase allowing no (or a forbidden) call type, and an
      unknown `based_on` service are not published; defaults "0002", "0400", "0002", "0002".
    - `strict_unicode` (True): a parameter with raw non-ASCII letters is refused (0002); the
      page says each such character "must be represented by its four digit \\u code".
    - `strict_booleans` (True): only "True" and "False" are booleans, as the page writes them.
    - `list_limit` (None): `tel_list_numbers` documents no paging, so the whole filtered
      inventory comes back in one object; an int truncates it, to model a capped answer.
    - `release_deletes_service` (False): whether `tel_delete_numbers` also deletes the
      inbound service named after the number.
    - `services_listing` ("array"): `GET /service/v1/inbound` answers a JSON array of names,
      or with "object" `{"services": [names]}`.
    - `undeletable`: digits -> (description, code) that `tel_delete_numbers` refuses to
      delete although owned (to produce PARTIAL answers); mutable at run time.
    - `now`: the clock for `purchased` dates and error `datetime`s.
    """

    env_credentials = (ENV_USERNAME, ENV_API_KEY)
    default_credentials = (DEFAULT_USERNAME, DEFAULT_API_KEY)

    def __init__(
        self,
        world: Any,
        auth_id: str = DEFAULT_USERNAME,
        auth_token: str = DEFAULT_API_KEY,
        regulated: Iterable[str] = (),
        *,
        country_names: Mapping[str, str] | None = None,
        states: Mapping[tuple[str, str], str] | None = None,
        regulation_addresses: Mapping[str, Mapping[str, str]] | None = None,
        tollfree_forbidden: Mapping[str, Iterable[str]] | None = None,
        unknown_location_code: str = "0002",
        out_of_stock_code: str = "0400",
        call_type_code: str = "0002",
        unknown_service_code: str = "0002",
        strict_unicode: bool = True,
        strict_booleans: bool = True,
        list_limit: int | None = None,
        release_deletes_service: bool = False,
        services_listing: str = "array",
        undeletable: Mapping[str, tuple[str, str]] | None = None,
        now: Callable[[], datetime.datetime] | None = None,
        lock: threading.RLock | None = None,
    ):
        self.world = world
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.cloud_id = auth_id.partition("/")[0]
        self.regulated = {c.upper() for c in regulated}
        self.country_names = dict(COUNTRY_NAMES if country_names is None else country_names)
        self.iso_codes = {name.casefold(): iso for iso, name in self.country_names.items()}
        self.states = dict(DEFAULT_STATES if states is None else states)
        self.regulation_addresses = {k: dict(v) for k, v in (regulation_addresses or {}).items()}
        self.tollfree_forbidden = {
            c.upper(): set(kinds) for c, kinds in (tollfree_forbidden or {}).items()
        }
        self.unknown_location_code = unknown_location_code
        self.out_of_stock_code = out_of_stock_code
        self.call_type_code = call_type_code
        self.unknown_service_code = unknown_service_code
        self.strict_unicode = strict_unicode
        self.strict_booleans = strict_booleans
        self.list_limit = list_limit
        self.release_deletes_service = release_deletes_service
        if services_listing not in ("array", "object"):
            raise ValueError("services_listing is 'array' or 'object'")
        self.services_listing = services_listing
        self.undeletable = dict(undeletable or {})
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))
        #: the World is not thread-safe; every request holds this while it touches it
        self.lock = lock or threading.RLock()
        #: inbound services by name: the World's apps as templates, numbers' own services
        self.services: dict[str, dict[str, Any]] = {
            name: self._template_config(name) for name in sorted(set(world.apps.values()))
        }
        self.router = Router()
        tel_routes: list[tuple[str, Callable[[Request], Response]]] = [
            ("/tel_purchase", self.purchase),
            ("/tel_purchase_development", self.purchase_development),
            ("/tel_list_numbers", self.list_numbers),
            ("/tel_delete_numbers", self.delete_numbers),
            ("/tel_get_supported_countries", self.supported_countries),
            ("/tel_get_supported_states", self.supported_states),
            ("/tel_get_supported_regions", self.supported_regions),
            ("/tel_list_regulation_addresses", self.list_regulation_addresses),
        ]
        for path, handler in tel_routes:
            self.router.add("GET", path, handler)
            self.router.add("POST", path, handler)
        self.router.add("GET", "/service/v1/inbound", self.list_services)
        self.router.add("GET", "/service/v1/schema/inbound", self.service_schema)
        self.router.add("GET", "/service/v1/inbound/{name}", self.get_service)
        self.router.add("PUT", "/service/v1/inbound/{name}", self.put_service)
        self.router.add("PATCH", "/service/v1/inbound/{name}", self.patch_service)
        self.router.add("DELETE", "/service/v1/inbound/{name}", self.delete_service)

    def provider_settings(self, base_url: str) -> dict[str, Any]:
        """Settings a `type: aculab` provider needs to talk to this emulator at `base_url`."""
        cloud_id, _, username = self.auth_id.partition("/")
        return {
            "cloud_id": cloud_id,
            "username": username,
            "api_key": self.auth_token,
            "base_url": base_url,
        }

    # ----------------------------------------------------------------- WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        raw_query = environ.get("QUERY_STRING", "")
        try:
            response = self.handle(request, raw_query)
        except AculabApiError as exc:
            response = self.error(request.path, exc)
        except Exception as exc:  # an emulator bug: answer like a server error, visibly
            error = AculabApiError(500, "HTTP 500", f"emulator error: {type(exc).__name__}: {exc}")
            response = self.error(request.path, error)
        return response(start_response)

    def handle(self, request: Request, raw_query: str = "") -> Response:
        if request.basic_auth() != (self.auth_id, self.auth_token):
            raise AculabApiError(
                401, "HTTP 401", "Authentication failed: give {cloud_id}/{username} and the key"
            )
        if request.path.startswith("/tel_"):
            request.query = self._tel_params(request, raw_query)
        with self.lock:
            response = self.router.dispatch(request)
        if response is None:
            raise AculabApiError(404, "HTTP 404", f"No web service at {request.path}")
        if response.status == 405:
            raise AculabApiError(405, "HTTP 405", f"Method {request.method} not allowed")
        return response

    def error(self, path: str, exc: AculabApiError) -> Response:
        stamp = self.now().strftime("%Y-%m-%d_%H:%M:%S")
        error: dict[str, Any] = {"code": exc.code, "text": exc.text}
        if exc.details:
            error["details"] = exc.details
        error["datetime"] = stamp
        error["link"] = ERROR_LINK + urllib.parse.quote(exc.code)
        body = {"error": error, "request": {"url": path, "datetime": stamp}}
        headers = [("WWW-Authenticate", 'Basic realm="aculab"')] if exc.status == 401 else []
        return json_response(exc.status, body, headers)

    # ----------------------------------------------------------------- parameters
    def _tel_params(self, request: Request, raw_query: str) -> dict[str, str]:
        """Query string and form fields (urlencoded or multipart) as one flat mapping."""
        pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
        if request.method == "POST" and request.body:
            pairs += self._form_pairs(request)
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                raise AculabApiError(400, "0003", f"Parameter '{name}' was given more than once")
            params[name] = self._unescape(name, value)
        return params

    @staticmethod
    def _form_pairs(request: Request) -> list[tuple[str, str]]:
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                head + request.body
            )
            return [
                (part.get_param("name", header="content-disposition"), _text(part))
                for part in message.iter_parts()
            ]
        if content_type.startswith("application/x-www-form-urlencoded") or not content_type:
            return urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True)
        raise AculabApiError(400, "HTTP 400", f"Unsupported request body type {content_type}")

    def _unescape(self, name: str, value: str) -> str:
        if self.strict_unicode and not value.isascii():
            raise _malformed(name, "non-ASCII characters must be sent as \\uXXXX escapes")
        return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)

    def _bool(self, q: Mapping[str, str], name: str) -> bool:
        value = q.get(name, "False")
        if value in ("True", "False") or (
            not self.strict_booleans and value.lower() in ("true", "false")
        ):
            return value.lower() == "true"
        raise _malformed(name, f'{value!r} is not "True" or "False"')

    @staticmethod
    def _did_type(q: Mapping[str, str], default: str | None) -> str | None:
        did_type = q.get("did_type") or default
        if did_type is not None and did_type not in NUMBER_TYPES:
            raise _malformed("did_type", "use geographic, national, mobile or tollfree")
        return did_type

    def _country(self, q: Mapping[str, str], required: bool = True) -> str | None:
        """The ISO code of the `country` parameter."""
        name = q.get("country")
        if not name:
            if required:
                raise _missing("country")
            return None
        if any(ch.isdigit() for ch in name):
            raise _malformed("country", "a country name has no digits")
        iso = self.iso_codes.get(name.casefold())
        if iso is None:
            raise AculabApiError(
                400, self.unknown_location_code, f"Country '{name}' is not supported"
            )
        return iso

    def _has_states(self, iso: str) -> bool:
        return any(country == iso for country, _ in self.states)

    # ----------------------------------------------------------------- catalogue views
    def _location(self, group: Any) -> tuple[str | None, str]:
        """(state, region) of a group as Aculab names them."""
        if group.number_type != "local":
            return None, group.prefix
        region = _region_name(group.region) or group.prefix
        return self.states.get((group.country, region)), region

    def _groups(self, iso: str, did_type: str, state: str | None = None) -> list[Any]:
        wanted = NUMBER_TYPES[did_type]
        return [
            g
            for g in self.world.groups
            if g.country == iso
            and g.number_type == wanted
            and (
                state is None
                or g.number_type != "local"  # states qualify geographic regions only
                or (self._location(g)[0] or "").casefold() == state.casefold()
            )
        ]

    # ----------------------------------------------------------------- purchases
    def purchase(self, request: Request) -> Response:
        groups, quantity, based_on = self._purchase_order(request.query)
        try:
            bought = self.world.buy_from_groups(
                groups, quantity, allow_partial=self._bool(request.query, "allow_partial")
            )
        except world_module.OutOfStock as exc:
            raise AculabApiError(
                400,
                self.out_of_stock_code,
                f"Only {exc.available} of the {quantity} telephone numbers asked for are "
                "available; nothing was purchased",
            ) from None
        digits = [n.number.lstrip("+") for n in bought]
        if based_on is not None:
            for number in digits:
                self.services[number] = copy.deepcopy(self.services[based_on])
                self._sync_binding(number)
        return json_response(200, digits)

    def purchase_development(self, request: Request) -> Response:
        """Same checks and answer as `tel_purchase`, but nothing is bought."""
        groups, quantity, _ = self._purchase_order(request.query)
        available = sum(max(g.stock, 0) for g in groups)
        if available < quantity and not self._bool(request.query, "allow_partial"):
            raise AculabApiError(
                400,
                self.out_of_stock_code,
                f"Only {available} of the {quantity} telephone numbers asked for are available",
            )
        return json_response(200, [str(1234567 + i) for i in range(min(quantity, available))])

    def _purchase_order(self, q: Mapping[str, str]) -> tuple[list[Any], int, str | None]:
        """Validate a purchase: (groups to buy from, quantity, based_on service)."""
        iso = self._country(q)
        if not q.get("region"):
            raise _missing("region")
        did_type = self._did_type(q, "geographic")
        assert iso is not None and did_type is not None
        quantity = self._quantity(q)
        allow = {kind: self._bool(q, f"allow_{kind}") for kind in CALL_TYPES}
        self._bool(q, "allow_partial")
        state = q.get("state") or None
        if did_type == "geographic" and self._has_states(iso) and state is None:
            raise _missing("state")
        groups = [g for g in self._groups(iso, did_type, state) if self._region_is(g, q["region"])]
        if not groups:
            where = ", ".join(p for p in (q["region"], state, q["country"]) if p)
            raise AculabApiError(
                400, self.unknown_location_code, f"No {did_type} numbers are sold in {where}"
            )
        if did_type == "tollfree":
            self._check_call_types(iso, allow)
        self._check_regulation(iso, groups, q.get("regulation_address"))
        based_on = q.get("based_on") or None
        if based_on is not None and based_on not in self.services:
            raise AculabApiError(
                400, self.unknown_service_code, f"Inbound service '{based_on}' does not exist"
            )
        return groups, quantity, based_on

    def _region_is(self, group: Any, asked: str) -> bool:
        return self._location(group)[1].casefold() == asked.strip().casefold()

    @staticmethod
    def _quantity(q: Mapping[str, str]) -> int:
        text = q.get("quantity", "1")
        if not text.isdigit():
            raise _malformed("quantity", f"{text!r} is not a whole number")
        if int(text) == 0:
            raise AculabApiError(400, "0004", "Parameter 'quantity' must be at least 1")
        return int(text)

    def _check_call_types(self, iso: str, allow: Mapping[str, bool]) -> None:
        if not any(allow.values()):
            raise AculabApiError(
                400,
                self.call_type_code,
                "At least one of allow_landline, allow_cellular, allow_payphone must be True",
            )
        refused = sorted(
            k for k, on in allow.items() if on and k in self.tollfree_forbidden.get(iso, ())
        )
        if refused:
            raise AculabApiError(
                400,
                self.call_type_code,
                f"Calls from {', '.join(refused)} phones cannot be allowed in "
                f"{self.country_names[iso]}",
            )

    def _check_regulation(self, iso: str, groups: list[Any], address: str | None) -> None:
        needed = iso in self.regulated or any(getattr(g, "regulated", False) for g in groups)
        if address is None:
            if needed:
                raise AculabApiError(
                    400,
                    "0005",
                    f"A regulation address is required to buy numbers in {self.country_names[iso]}",
                )
            return
        record = self.regulation_addresses.get(address)
        if record is None or record.get("country", "").casefold() != (
            self.country_names[iso].casefold()
        ):
            raise AculabApiError(
                400,
                "0006",
                f"Regulation address '{address}' is not suitable for {self.country_names[iso]}",
            )

    # ----------------------------------------------------------------- owned numbers
    def list_numbers(self, request: Request) -> Response:
        q = request.query
        iso = self._country(q, required=False)
        did_type = self._did_type(q, None)
        state = (q.get("state") or "").casefold() or None
        region = (q.get("region") or "").casefold() or None
        group_by_id = {g.group_id: g for g in self.world.groups}
        listing: dict[str, dict[str, Any]] = {}
        for number in sorted(self.world.numbers.values(), key=lambda n: n.number):
            record = self._number_record(number, group_by_id.get(number.group_id))
            if (
                (iso is None or number.country == iso)
                and (did_type is None or record["did_type"] == did_type)
                and (state is None or record.get("state", "").casefold() == state)
                and (region is None or record["region"].casefold() == region)
            ):
                listing[number.number.lstrip("+")] = record
                if self.list_limit is not None and len(listing) >= self.list_limit:
                    break
        return json_response(200, listing)

    def _number_record(self, number: Any, group: Any) -> dict[str, Any]:
        if group is not None:
            state, region = self._location(group)
        elif number.number_type == "local":
            region = _region_name(number.region) or ""
            state = self.states.get((number.country, region))
        else:
            state, region = None, ""
        record: dict[str, Any] = {"country": self.country_names.get(number.country, number.country)}
        if self._has_states(number.country):
            record["state"] = state or ""
        record.update(
            {
                "region": region,
                "price": f"{Decimal(number.monthly or 0):.2f}",
                "purchased": number.added_on or self.now().date().isoformat(),
                "did_type": DID_TYPES[number.number_type],
            }
        )
        return record

    def delete_numbers(self, request: Request) -> Response:
        text = request.query.get("numbers", "")
        wanted = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
        if not wanted:
            raise _missing("numbers")
        failed: dict[str, dict[str, str]] = {}
        for digits in wanted:
            reason = self._delete_one(digits)
            if reason is not None:
                failed[digits] = {"description": reason[0], "code": reason[1]}
        if not failed:
            return json_response(200, {"status": "OK"})
        status = "FAIL" if len(failed) == len(wanted) else "PARTIAL"
        return json_response(200, {"status": status, "numbers": failed})

    def _delete_one(self, digits: str) -> tuple[str, str] | None:
        """None once deleted, else (description, code) of why not."""
        if not digits.isdigit():
            return f"{digits} is not a telephone number", "0002"
        if digits in self.undeletable:
            return self.undeletable[digits]
        try:
            self.world.release("+" + digits)
        except world_module.NotOwned:
            return f"Telephone number {digits} does not belong to you", "0300"
        if self.release_deletes_service:
            self.services.pop(digits, None)
        return None

    # ----------------------------------------------------------------- discovery
    def supported_countries(self, request: Request) -> Response:
        did_type = self._did_type(request.query, "geographic")
        assert did_type is not None
        isos = {g.country for g in self.world.groups if g.number_type == NUMBER_TYPES[did_type]}
        return json_response(200, sorted(self.country_names.get(c, c) for c in isos))

    def supported_states(self, request: Request) -> Response:
        iso = self._country(request.query)
        states = {self._location(g)[0] for g in self._groups(iso or "", "geographic")} - {None}
        return json_response(200, sorted(states))

    def supported_regions(self, request: Request) -> Response:
        q = request.query
        iso = self._country(q)
        did_type = self._did_type(q, "geographic")
        assert iso is not None and did_type is not None
        state = q.get("state") or None
        if state is not None and not self._has_states(iso):
            raise _malformed("state", f"{q['country']} has no states")
        regions = dict.fromkeys(self._location(g)[1] for g in self._groups(iso, did_type, state))
        return json_response(200, list(regions))

    def list_regulation_addresses(self, request: Request) -> Response:
        return json_response(200, self.regulation_addresses)

    # ----------------------------------------------------------------- inbound services
    def list_services(self, request: Request) -> Response:
        names = sorted(self.services)
        return json_response(
            200, names if self.services_listing == "array" else {"services": names}
        )

    def service_schema(self, request: Request) -> Response:
        page = {
            "type": "object",
            "properties": {"address": {"type": "string"}, "method": {"enum": ["GET", "POST"]}},
        }
        schema = {
            "type": "object",
            "properties": {
                "rest": {
                    "type": "object",
                    "properties": {"first_page": page, "final_page": page, "error_page": page},
                },
                "uas": {
                    "type": "object",
                    "properties": {"application_name": {"type": "string"}},
                },
            },
            "additionalProperties": False,
        }
        return json_response(200, schema)

    def get_service(self, request: Request) -> Response:
        return json_response(200, self._service(request.params["name"]))

    def put_service(self, request: Request) -> Response:
        name = request.params["name"]
        config = self._service_body(request)
        created = name not in self.services
        self.services[name] = config
        self._after_service_change(name)
        return json_response(201 if created else 200, config)

    def patch_service(self, request: Request) -> Response:
        name = request.params["name"]
        merged = _merge(self._service(name), self._service_body(request))
        self._validate_service(merged)
        self.services[name] = merged
        self._after_service_change(name)
        return json_response(200, merged)

    def delete_service(self, request: Request) -> Response:
        name = request.params["name"]
        self._service(name)
        del self.services[name]
        self._after_service_change(name)
        return empty_response(204)

    def _service(self, name: str) -> dict[str, Any]:
        config = self.services.get(name)
        if config is None:
            raise AculabApiError(404, "HTTP 404", f"Inbound service '{name}' does not exist")
        return config

    def _service_body(self, request: Request) -> dict[str, Any]:
        if not request.body:
            return {}
        try:
            body = json.loads(request.body)
        except ValueError:
            raise AculabApiError(400, "HTTP 400", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise AculabApiError(400, "HTTP 400", "The request body must be a JSON object")
        self._validate_service(body)
        return body

    @staticmethod
    def _validate_service(config: Mapping[str, Any]) -> None:
        problems = [f"'{key}' is not a known option" for key in config if key not in SERVICE_KEYS]
        rest = config.get("rest")
        if isinstance(rest, Mapping):
            for page_name, page in rest.items():
                method = page.get("method") if isinstance(page, Mapping) else None
                if method is not None and method not in ("GET", "POST"):
                    problems.append(f"'rest.{page_name}.method' must be GET or POST")
        if problems:
            text = problems[0] if len(problems) == 1 else "The configuration is not valid"
            raise AculabApiError(400, "HTTP 400", text, problems if len(problems) > 1 else ())

    @staticmethod
    def _template_config(name: str) -> dict[str, Any]:
        base = f"https://apps.example.invalid/{urllib.parse.quote(name)}"
        return {
            "rest": {
                "first_page": {"address": f"{base}/first", "method": "POST"},
                "final_page": {"address": f"{base}/final", "method": "POST"},
                "error_page": {"address": f"{base}/error", "method": "POST"},
            }
        }

    def _after_service_change(self, name: str) -> None:
        """Keep the World's apps and bindings in step with the services."""
        if name.isdigit() and "+" + name in self.world.numbers:
            self._sync_binding(name)
            return
        if name in self.services and not name.isdigit() and not self.world.app_by_name(name):
            self.world.add_app(name)
        for digits in [n for n in self.services if n.isdigit()]:
            if "+" + digits in self.world.numbers:
                self._sync_binding(digits)

    def _sync_binding(self, digits: str) -> None:
        """The World's app for a number is the template its service's configuration equals."""
        config = self.services.get(digits)
        app_id = None
        if config is not None:
            for app_id_candidate, app_name in sorted(self.world.apps.items()):
                if self.services.get(app_name) == config:
                    app_id = app_id_candidate
                    break
        number = "+" + digits
        if self.world.numbers[number].app_id != app_id:
            self.world.update(number, app_id=app_id)
