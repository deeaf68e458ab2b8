"""A MessageMedia emulator: the Dedicated Numbers API's wire format over a World.

It follows /work/shared/providers/messagemedia.md: paths under
`/v1/messaging/numbers/dedicated`, Basic and HMAC authentication, `{"data", "pagination"}`
envelopes with token paging, `{"message"[, "details"]}` error bodies, 201/204/404/409 as the
reference (and the server code it cites) gives them. Where MessageMedia's behaviour is
UNCONFIRMED the choice is a constructor option. Standard library + the World only.

How the World is dressed up as MessageMedia:
- a number's `id` is a UUID derived from its E.164 form (stable across requests); an
  assignment's `id` is made when the number is assigned and forgotten when it is released;
- the assignment's `label` is the World number's `alias`, its `metadata` the `labels`;
- types: the World's local and national numbers are `LANDLINE`, mobile `MOBILE`, tollfree
  `TOLL_FREE`; capabilities: voice is `TTS`, sms `SMS`, mms `MMS`;
- `classification` comes from the digits: a run of six identical or consecutive digits in
  the national number is GOLD, five SILVER, anything else BRONZE;
- a released number is held for its last owner for `grace_days` (45, from the server
  code's config): hidden from search, assignable again only by this account;
- a US toll-free number is assigned `UNVERIFIED` (the World holds it pending) until the
  World activates it, then `ASSIGNED`.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from numbers_iac.emulators.wsgi import (
    Request,
    Response,
    Router,
    StartResponse,
    empty_response,
    json_response,
    parse_basic_auth,
)
from numbers_iac.simulation import world as world_module

DEFAULT_API_KEY = "EMULATORKEY000000000"
DEFAULT_API_SECRET = "emulator-secret"
ENV_API_KEY = "MESSAGEMEDIA_API_KEY"
ENV_API_SECRET = "MESSAGEMEDIA_API_SECRET"
PREFIX = "/v1/messaging/numbers/dedicated"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
#: numbers for sale one search request looks at, at most, to fill a filtered page
SCAN_LIMIT = 5000
#: how far the World is read at a time while scanning
SCAN_CHUNK = 200
GRACE_DAYS = 45
#: namespace of the number ids the emulator makes up
ID_NAMESPACE = uuid.UUID("6d4f1e52-1c0b-4c55-9a4b-7f3d8a9e2b10")

#: MessageMedia `type` -> the World's number types it covers
TYPES = {
    "LANDLINE": ("local", "national"),
    "MOBILE": ("mobile",),
    "TOLL_FREE": ("tollfree",),
    "SHORT_CODE": (),
}
#: the World's number type -> MessageMedia `type`
TYPE_OF = {"local": "LANDLINE", "national": "LANDLINE", "mobile": "MOBILE", "tollfree": "TOLL_FREE"}
#: MessageMedia service type -> the World's capability
SERVICES = {"SMS": "sms", "MMS": "mms", "TTS": "voice"}
SERVICE_OF = {world: mm for mm, world in SERVICES.items()}
CLASSIFICATIONS = ("BRONZE", "SILVER", "GOLD")
STATUSES = ("UNVERIFIED", "PENDING", "ASSIGNED")
PARSE_FAILED = "Request failed to parse correctly. Please ensure input is valid and try again."
HMAC_ALGORITHMS = {"hmac-sha1": "sha1", "hmac-sha256": "sha256"}
_HMAC_FIELD = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class _Request(Request):
    """A request with its query's repeated parameters (`types=MOBILE&types=LANDLINE`)."""

    multi: dict[str, list[str]] = field(default_factory=dict)


class MessageMediaApiError(Exception):
    """An error the emulator answers with MessageMedia's `{"message"[, "details"]}` body."""

    def __init__(self, status: int, message: str, details: Iterable[str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = None if details is None else list(details)


def _invalid(*details: str) -> MessageMediaApiError:
    return MessageMediaApiError(400, PARSE_FAILED, details)


def number_id(number: str) -> str:
    """The id the emulator gives a number (E.164): stable, so any request can name it."""
    return str(uuid.uuid5(ID_NAMESPACE, number))


def classification(number: str) -> str:
    """GOLD for a run of six identical or consecutive digits in the national number, SILVER
    for five, BRONZE otherwise (MessageMedia: patterned digits are dearer)."""
    try:
        national = phonenumbers.national_significant_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        national = number.lstrip("+")
    longest = run = 1
    step = None
    for before, digit in zip(national, national[1:], strict=False):
        delta = int(digit) - int(before)
        if delta in (0, 1) and (run == 1 or delta == step):
            run, step = run + 1, delta
        elif delta in (0, 1):
            run, step = 2, delta
        else:
            run, step = 1, None
        longest = max(longest, run)
    return "GOLD" if longest >= 6 else "SILVER" if longest >= 5 else "BRONZE"


class MessageMediaEmulator:
    """WSGI app emulating one MessageMedia account's Dedicated Numbers API over `world`.

    `auth_id` / `auth_token` are the API key and secret (names shared with the other
    emulators, so `numbers_iac.emulators.serve` can pass them). Both Basic and HMAC requests
    are accepted. An HMAC signature is checked as the API reference describes it, whatever
    digest and body-hash header the client chose: the `headers` list of the Authorization
    header names, in order, what was signed (`Date`/`date`, `Content-MD5` or the SDKs'
    `x-Content-MD5`, `request-line`); each becomes a `name: value` line, the request line is
    `METHOD /path?query HTTP/1.1`; `algorithm` is `hmac-sha1` (MessageMedia's SDKs) or
    `hmac-sha256` (the reference's text). A signed body hash must match the body, and a
    request with a body must sign one.

    Options for UNCONFIRMED behaviour and for tests:
    - `auth_failure_status`: 401 (the 2026 docs) or 403 (the MessageMedia spec) for rejected
      credentials.
    - `request_line_query`: whether the signed request line carries the query string:
      "with" (default: the request target as sent), "without", or "either".
    - `max_clock_skew`: seconds a signed `Date` may be off (300); None disables the check.
    - `with_plus`: phone numbers carry a leading "+" (True; the spec's examples drop it).
    - `patch_status`: 200 with the assignment (server code) or 204 with no body (the docs).
    - `grace_days`: how long a released number is held for this account (45).
    - `feature_enabled`: False answers 403 "not enabled" on everything but the assigned list,
      as an account without Self Serve Dedicated Numbers.
    - `now`: the clock (epoch seconds), for `Date` checks and holds.

    Not modelled: the server code's 409 for an unassigned number whose `available_after` is
    null, `exact_service_types` (several `service_types` must all be offered here, where the
    server code takes any of them), and the `sort_by`/`number_id`/`types` filters the
    assigned list ignores. A search scans at most SCAN_LIMIT numbers per page; `matching`
    digits that start with the country code are searched as that block of numbers.
    """

    env_credentials = (ENV_API_KEY, ENV_API_SECRET)
    default_credentials = (DEFAULT_API_KEY, DEFAULT_API_SECRET)

    def __init__(
        self,
        world: Any,
        auth_id: str = DEFAULT_API_KEY,
        auth_token: str = DEFAULT_API_SECRET,
        *,
        auth_failure_status: int = 401,
        request_line_query: str = "with",
        max_clock_skew: float | None = 300.0,
        with_plus: bool = True,
        patch_status: int = 200,
        grace_days: int = GRACE_DAYS,
        feature_enabled: bool = True,
        now: Callable[[], float] = time.time,
        lock: threading.RLock | None = None,
    ):
        if request_line_query not in ("with", "without", "either"):
            raise ValueError("request_line_query is 'with', 'without' or 'either'")
        self.world = world
        self.api_key = auth_id
        self.api_secret = auth_token
        self.auth_failure_status = auth_failure_status
        self.request_line_query = request_line_query
        self.max_clock_skew = max_clock_skew
        self.with_plus = with_plus
        self.patch_status = patch_status
        self.grace_days = grace_days
        self.feature_enabled = feature_enabled
        self.now = now
        #: the World is not thread-safe; every request holds this while it touches it
        self.lock = lock or threading.RLock()
        #: number id -> E.164, for every number a response has named
        self.ids: dict[str, str] = {}
        #: E.164 -> assignment id, for assigned numbers
        self.assignments: dict[str, str] = {}
        #: E.164 -> epoch seconds until which a released number is held for this account
        self.holds: dict[str, float] = {}
        #: search token -> World offset of the item it names, per search
        self._search_tokens: dict[tuple[tuple, str], int] = {}
        self._owned_cache: tuple[int, list[tuple[str, str]]] | None = None
        #: how each request authenticated ("basic" or the HMAC algorithm), for tests
        self.auth_log: list[str] = []
        self.router = Router()
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "", self.search),
            ("GET", "/", self.search),
            ("GET", "/assignments", self.list_assigned),
            ("GET", "/{number_id}", self.get_number),
            ("GET", "/{number_id}/assignment", self.get_assignment),
            ("POST", "/{number_id}/assignment", self.create_assignment),
            ("PATCH", "/{number_id}/assignment", self.update_assignment),
            ("DELETE", "/{number_id}/assignment", self.delete_assignment),
        ]
        for method, pattern, handler in routes:
            self.router.add(method, PREFIX + pattern, handler)

    def provider_settings(self, base_url: str) -> dict[str, Any]:
        """Settings a `type: messagemedia` provider needs to talk to this emulator."""
        return {"api_key": self.api_key, "api_secret": self.api_secret, "base_url": base_url}

    # ----------------------------------------------------------------- WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request = _Request.from_environ(environ)
        raw_query = environ.get("QUERY_STRING", "")
        try:
            response = self.handle(request, raw_query)
        except MessageMediaApiError as exc:
            response = self.error(exc.status, exc.message, exc.details)
        except Exception as exc:  # an emulator bug: answer like a server error, visibly
            response = self.error(500, f"Something went wrong ({type(exc).__name__}: {exc})")
        return response(start_response)

    def handle(self, request: Request, raw_query: str = "") -> Response:
        self.authenticate(request, raw_query)
        request.multi = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        if not self.feature_enabled and request.path.rstrip("/") != PREFIX + "/assignments":
            raise MessageMediaApiError(
                403,
                "Your account is not enabled to use Self Serve Dedicated Numbers. Please "
                "contact your MessageMedia account manager for access.",
            )
        with self.lock:
            response = self.router.dispatch(request)
        if response is None:
            raise MessageMediaApiError(404, "Resource not found.")
        if response.status == 405:
            raise MessageMediaApiError(405, "Method not allowed")
        return response

    def error(self, status: int, message: str, details: list[str] | None = None) -> Response:
        body: dict[str, Any] = {"message": message}
        if details is not None:
            body["details"] = details
        return json_response(status, body, [("Content-Type", "application/json;charset=UTF-8")])

    # ----------------------------------------------------------------- authentication
    def authenticate(self, request: Request, raw_query: str) -> None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            if parse_basic_auth(header) == (self.api_key, self.api_secret):
                self.auth_log.append("basic")
                return
        elif header.lower().startswith("hmac "):
            algorithm = self._check_hmac(request, raw_query, header[5:])
            if algorithm is not None:
                self.auth_log.append(algorithm)
                return
        raise MessageMediaApiError(self.auth_failure_status, "Invalid authentication credentials")

    def _check_hmac(self, request: Request, raw_query: str, value: str) -> str | None:
        """The algorithm of a valid signature, None for any invalid one."""
        fields = dict(_HMAC_FIELD.findall(value))
        digest = HMAC_ALGORITHMS.get(fields.get("algorithm", "").lower())
        names = fields.get("headers", "").split()
        if fields.get("username") != self.api_key or digest is None or "request-line" not in names:
            return None
        headers = {k.lower(): v for k, v in request.headers.items()}
        lowered = [n.lower() for n in names]
        if "date" not in lowered or not self._date_ok(headers.get("date")):
            return None
        md5_names = [n for n in lowered if n in ("content-md5", "x-content-md5")]
        if request.body and not md5_names:
            return None
        for name in md5_names:
            if headers.get(name, "").lower() != hashlib.md5(request.body).hexdigest():
                return None
        targets = [request.path + (f"?{raw_query}" if raw_query else "")]
        if raw_query and self.request_line_query == "without":
            targets = [request.path]
        elif raw_query and self.request_line_query == "either":
            targets.append(request.path)
        try:
            signature = base64.b64decode(fields.get("signature", ""), validate=True)
        except binascii.Error:
            return None
        for target in targets:
            lines = []
            for name in names:
                if name.lower() == "request-line":
                    lines.append(f"{request.method} {target} HTTP/1.1")
                elif name.lower() in headers:
                    lines.append(f"{name}: {headers[name.lower()]}")
                else:
                    return None
            secret = self.api_secret.encode("utf-8")
            mac = hmac.new(secret, "\n".join(lines).encode("utf-8"), digest).digest()
            if hmac.compare_digest(mac, signature):
                return fields["algorithm"].lower()
        return None

    def _date_ok(self, value: str | None) -> bool:
        if not value:
            return False
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return False
        if self.max_clock_skew is None:
            return True
        return abs(when.timestamp() - self.now()) <= self.max_clock_skew

    # ----------------------------------------------------------------- search
    def search(self, request: Request) -> Response:
        q = request.query
        size = self._page_size(q)
        countries = [q["country"].upper()] if q.get("country") else self._countries()
        types = self._types(request)
        services = self._services(request)
        wanted_class = self._classification(q.get("classification"))
        matching = self._matching(q.get("matching"))
        key = (tuple(countries), tuple(types), tuple(services), wanted_class, q.get("matching"))
        start = 0
        if q.get("token"):
            start = self._search_tokens.get((key, q["token"]), -1)
            if start < 0:
                raise _invalid(f"token: {q['token']} is not a token of this search")
        found: list[tuple[int, str, Any]] = []
        examined = 0
        for offset, available in self._for_sale(countries, types, services, matching, start):
            examined += 1
            if examined > SCAN_LIMIT or len(found) > size:
                break
            number = available.number
            if number in self.holds and self.holds[number] > self.now():
                continue
            if wanted_class and classification(number) != wanted_class:
                continue
            if matching is not None and not matching.search(number):
                continue
            found.append((offset, number, available.group))
        token = None
        if len(found) > size:
            offset, number, _ = found[size]
            token = number_id(number)
            self._search_tokens[(key, token)] = offset
        data = [self._available_record(number, group) for _, number, group in found[:size]]
        return self._page(data, size, token)

    def _for_sale(
        self,
        countries: list[str],
        types: list[str],
        services: list[str],
        matching: re.Pattern[str] | None,
        start: int,
    ) -> Iterator[tuple[int, Any]]:
        """Numbers for sale for every (country, type) asked, as one list, from `start`."""
        base = 0
        for country in countries:
            prefix = self._prefix_hint(country, matching)
            for number_type in types:
                try:
                    _, total = self.world.search(
                        country, number_type, prefix=prefix, capabilities=services, limit=1
                    )
                except world_module.WorldError:
                    continue
                offset = max(start - base, 0)
                while offset < total:
                    page, _ = self.world.search(
                        country,
                        number_type,
                        prefix=prefix,
                        capabilities=services,
                        limit=SCAN_CHUNK,
                        offset=offset,
                    )
                    if not page:
                        break
                    for index, available in enumerate(page):
                        yield base + offset + index, available
                    offset += len(page)
                base += total

    @staticmethod
    def _prefix_hint(country: str, matching: re.Pattern[str] | None) -> str | None:
        """Digits after the calling code when `matching` is a plain number start: the World
        then searches that block instead of the emulator scanning the whole country."""
        if matching is None:
            return None
        digits = matching.pattern.removeprefix("^").removeprefix("\\+")
        calling_code = str(phonenumbers.country_code_for_region(country))
        if digits.isdigit() and digits.startswith(calling_code) and len(digits) > len(calling_code):
            return digits[len(calling_code) :]
        return None

    def _countries(self) -> list[str]:
        return sorted({g.country for g in self.world.groups})

    def _types(self, request: Request) -> list[str]:
        """`types`, repeated or comma-separated (2026 docs), or `type`; every type when absent."""
        multi = getattr(request, "multi", {})
        raw = [v for value in multi.get("types", []) for v in value.split(",") if v]
        raw = raw or [v for v in multi.get("type", []) if v]
        unknown = [t for t in raw if t not in TYPES]
        if unknown:
            raise _invalid(f"types: {', '.join(unknown)} is not one of {', '.join(TYPES)}")
        chosen = raw or list(TYPES)
        return [world_type for t in chosen for world_type in TYPES[t]]

    def _services(self, request: Request) -> list[str]:
        multi = getattr(request, "multi", {})
        raw = [v for value in multi.get("service_types", []) for v in value.split(",") if v]
        unknown = [s for s in raw if s not in SERVICES]
        if unknown:
            raise _invalid(f"service_types: {', '.join(unknown)} is not one of SMS, TTS, MMS")
        return [SERVICES[s] for s in raw]

    @staticmethod
    def _classification(value: str | None) -> str | None:
        if not value:
            return None
        if value.upper() not in CLASSIFICATIONS:
            raise _invalid(f"classification: {value} is not one of {', '.join(CLASSIFICATIONS)}")
        return value.upper()

    @staticmethod
    def _matching(value: str | None) -> re.Pattern[str] | None:
        """Server code: a regular expression matched anywhere in `phone_number`, a leading
        "+" escaped for the caller."""
        if not value:
            return None
        pattern = "\\+" + value[1:] if value.startswith("+") else value
        try:
            return re.compile(pattern)
        except re.error:
            raise _invalid(f"matching: {value} is not a valid pattern") from None

    @staticmethod
    def _page_size(q: Mapping[str, str]) -> int:
        try:
            size = int(q.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError:
            raise _invalid("page_size: must be a number") from None
        if not 0 <= size <= MAX_PAGE_SIZE:
            raise _invalid(f"page_size: must be between 0 and {MAX_PAGE_SIZE}")
        return size

    def _page(self, data: list[dict[str, Any]], size: int, token: str | None) -> Response:
        return json_response(
            200,
            {"data": data, "pagination": {"page_size": size, "next_token": token}},
            [("Content-Type", "application/json;charset=UTF-8")],
        )

    # ----------------------------------------------------------------- numbers
    def get_number(self, request: Request) -> Response:
        number = self._number_of(request.params["number_id"])
        owned = self.world.numbers.get(number)
        if owned is not None:
            return json_response(200, self._owned_record(owned))
        try:
            group = self.world.group_for_sale(number)
        except world_module.NotForSale:
            raise MessageMediaApiError(404, "Resource not found.") from None
        return json_response(200, self._available_record(number, group))

    def _number_of(self, id_text: str) -> str:
        try:
            canonical = str(uuid.UUID(id_text))
        except ValueError:
            raise _invalid(f"id: {id_text} is not a valid UUID") from None
        number = self.ids.get(canonical) or self._owned_ids().get(canonical)
        if number is None:
            raise MessageMediaApiError(404, "Resource not found.")
        return number

    def _phone(self, number: str) -> str:
        return number if self.with_plus else number.lstrip("+")

    def _available_record(self, number: str, group: Any) -> dict[str, Any]:
        ident = number_id(number)
        self.ids[ident] = number
        held = self.holds.get(number)
        after = held if held is not None else self.now() - 86400
        return {
            "id": ident,
            "phone_number": self._phone(number),
            "country": group.country,
            "type": TYPE_OF.get(group.number_type, "LANDLINE"),
            "classification": classification(number),
            "available_after": _iso(after),
            "capabilities": [SERVICE_OF[c] for c in group.capabilities if c in SERVICE_OF],
        }

    def _owned_record(self, owned: Any) -> dict[str, Any]:
        ident = number_id(owned.number)
        self.ids[ident] = owned.number
        record: dict[str, Any] = {
            "id": ident,
            "phone_number": self._phone(owned.number),
            "country": owned.country,
            "type": TYPE_OF.get(owned.number_type, "LANDLINE"),
            "classification": classification(owned.number),
            "capabilities": [SERVICE_OF[c] for c in owned.capabilities if c in SERVICE_OF],
            "available_after": None,
        }
        if owned.country == "US" and owned.number_type == "tollfree":
            record["status"] = "UNVERIFIED" if owned.status == "pending" else "ASSIGNED"
        else:
            record["status"] = None
        return record

    def _assignment(self, owned: Any) -> dict[str, Any]:
        ident = self.assignments.setdefault(
            owned.number, str(uuid.uuid5(ID_NAMESPACE, "assignment:" + owned.number))
        )
        return {
            "id": ident,
            "number_id": number_id(owned.number),
            "label": owned.alias,
            "metadata": dict(owned.labels),
        }

    # ----------------------------------------------------------------- assigned numbers
    def list_assigned(self, request: Request) -> Response:
        q = request.query
        size = self._page_size(q)
        country = (q.get("country") or "").upper()
        matching = self._matching(q.get("matching"))
        label = self._matching(q.get("label"))
        services = set(self._services(request))
        wanted_class = self._classification(q.get("classification"))
        status = q.get("status")
        if status and status not in STATUSES:
            raise _invalid(f"status: {status} is not one of {', '.join(STATUSES)}")
        owned = self._owned_sorted()
        start = 0
        if q.get("token"):
            try:
                token = str(uuid.UUID(q["token"]))
            except ValueError:
                raise _invalid(f"token: {q['token']} is not a valid UUID") from None
            start = _bisect(owned, token)
        data: list[dict[str, Any]] = []
        token_out = None
        for ident, number in owned[start:]:
            n = self.world.numbers[number]
            record = self._owned_record(n)
            if (
                (country and n.country != country)
                or (matching is not None and not matching.search(n.number))
                or (label is not None and not label.search(n.alias or ""))
                or not services <= set(n.capabilities)
                or (wanted_class and record["classification"] != wanted_class)
                or (status and record["status"] != status)
            ):
                continue
            if len(data) == size:
                token_out = ident  # the first item of the next page: "id >= token"
                break
            data.append({"number": record, "assignment": self._assignment(n)})
        return self._page(data, size, token_out)

    def _owned_sorted(self) -> list[tuple[str, str]]:
        """(id, number) of every assigned number, by id: the order the API pages in."""
        version = self.world.version
        if self._owned_cache is None or self._owned_cache[0] != version:
            pairs = sorted((number_id(n), n) for n in self.world.numbers)
            self._owned_cache = (version, pairs)
        return self._owned_cache[1]

    def _owned_ids(self) -> dict[str, str]:
        return dict(self._owned_sorted())

    # ----------------------------------------------------------------- assignments
    def get_assignment(self, request: Request) -> Response:
        number = self._number_of(request.params["number_id"])
        owned = self.world.numbers.get(number)
        if owned is None:
            raise MessageMediaApiError(404, "Not found")
        return json_response(200, self._assignment(owned))

    def create_assignment(self, request: Request) -> Response:
        number = self._number_of(request.params["number_id"])
        body = self._body(request)
        label, metadata = self._details(body, patch=False)
        if number in self.world.numbers:  # assigned already, to this account too
            raise MessageMediaApiError(409, "Conflict")
        try:
            owned = self.world.buy(number)
        except world_module.NotForSale:
            raise MessageMediaApiError(409, "Conflict") from None
        self.holds.pop(number, None)
        self.world.update(number, alias=label, labels=metadata or {})
        if owned.country == "US" and owned.number_type == "tollfree":
            self.world.hold_pending(number)
        self.assignments[number] = str(uuid.uuid4())
        return json_response(201, self._assignment(self.world.numbers[number]))

    def update_assignment(self, request: Request) -> Response:
        number = self._number_of(request.params["number_id"])
        body = self._body(request)
        if not body:
            raise _invalid("at least one of label and metadata must be given")
        if number not in self.world.numbers:
            raise MessageMediaApiError(404, "Not found")
        label, metadata = self._details(body, patch=True)
        changes: dict[str, Any] = {}
        if "label" in body:
            changes["alias"] = label
        if "metadata" in body:
            changes["labels"] = metadata or {}  # replaces the whole map, never merges
        self.world.update(number, **changes)
        if self.patch_status == 204:
            return empty_response(204)
        return json_response(200, self._assignment(self.world.numbers[number]))

    def delete_assignment(self, request: Request) -> Response:
        number = self._number_of(request.params["number_id"])
        try:
            self.world.release(number)
        except world_module.NotOwned:
            raise MessageMediaApiError(404, "Not found") from None
        self.assignments.pop(number, None)
        self.holds[number] = self.now() + self.grace_days * 86400
        return empty_response(204)

    def _details(self, body: Mapping[str, Any], patch: bool) -> tuple[Any, Any]:
        """`label` and `metadata` after the server code's checks (lengths, string pairs)."""
        details: list[str] = []
        label = body.get("label")
        if label is not None and (not isinstance(label, str) or len(label) > 100):
            details.append("Label is invalid, maximum 100 characters.")
        metadata = body.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, dict):
                details.append("metadata must be an object of string pairs")
            else:
                if len(metadata) > 5:
                    details.append("metadata: maximum 5 entries")
                for key, value in metadata.items():
                    if not key.strip():
                        details.append("metadata key must be populated")
                    elif len(key) > 100:
                        details.append(f"Length of key {key} exceeds 100")
                    if not isinstance(value, str):
                        details.append(f"metadata value of {key} must be a string")
                    elif len(value) > 256:
                        details.append(f"Length of value {value} exceeds 256")
        if details:
            raise _invalid(*details)
        return label, metadata

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if not request.body:
            return {}
        try:
            body = json.loads(request.body)
        except ValueError:
            raise _invalid("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _invalid("the request body must be a JSON object")
        return body


def _bisect(pairs: list[tuple[str, str]], token: str) -> int:
    low, high = 0, len(pairs)
    while low < high:
        middle = (low + high) // 2
        if pairs[middle][0] < token:
            low = middle + 1
        else:
            high = middle
    return low


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


__all__ = ["MessageMediaEmulator", "classification", "number_id"]
