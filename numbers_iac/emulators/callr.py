"""A CALLR emulator: a WSGI app speaking CALLR's JSON-RPC v1.1 API over a World.

It follows /work/shared/providers/callr.md and CALLR's own article
(/work/shared/seeds/callr-numbers.txt): one endpoint, `POST /json-rpc/v1.1/`, a JSON-RPC 2.0
envelope with positional `params`, `Authorization: Api-Key <key>` or Basic `login:password`,
an optional `Callr-Login-As` header, and errors as `{"error": {"code", "message", "data"}}`.
Where CALLR's behaviour is UNCONFIRMED the choice is a constructor option, so a test can
exercise the adapter against either reading. Standard library + the World only; its tables
are written apart from the adapter's on purpose (a shared mistake would go unnoticed).

How the World maps onto CALLR:
- area codes: one per World group (mobile groups excepted: CALLR sells no mobile type), with
  the id `position in world.groups + 1`, the region's first word as `name` ("Amiens") and
  the group's block as `prefix` ("+33322");
- types: local -> GEOGRAPHIC, national -> SHAREDCOST, tollfree -> TOLLFREE;
- classes: the World has none. CLASSIC and GOLD numbers come from the same blocks (the World
  does not model memorable digits); a GOLD number costs `gold_multiplier` times the group's
  price, and the emulator remembers each DID's class for its listings;
- hashes: a DID's hash and an app's hash are derived from its number / World app id (eight
  upper-case characters), so they survive a restart of the emulator over the same World;
- reservations: held in `world.reservations` (so a sandbox and this emulator agree on what a
  reservation holds); `open_orders()` tells a test which tokens are still alive.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import phonenumbers

from numbers_iac.emulators.wsgi import Response, StartResponse, json_response, parse_basic_auth
from numbers_iac.simulation import world as world_module

ENDPOINT = "/json-rpc/v1.1/"
DEFAULT_LOGIN = "emulator"
DEFAULT_API_KEY = "callr-emulator-key"
ENV_LOGIN = "CALLR_LOGIN"
ENV_API_KEY = "CALLR_API_KEY"
#: CALLR keeps a reservation "a maximum of 5" (minutes assumed; the source is truncated)
RESERVATION_TTL = 300.0
#: `did.search` answers the first 50 numbers for `[{}, {}]` (CALLR's own example)
DEFAULT_PAGE = 50
#: largest page `did.search` serves (UNCONFIRMED; REST v2's `limit` stops at 100)
MAX_PAGE = 100
CLASSES = ("CLASSIC", "GOLD")
#: World number type -> CALLR's DID type
TYPES = {"local": "GEOGRAPHIC", "national": "SHAREDCOST", "tollfree": "TOLLFREE"}
TYPE_NAMES = {"GEOGRAPHIC": "Geographic", "SHAREDCOST": "Shared cost", "TOLLFREE": "Toll free"}
ASSIGN_MODES = ("RANDOM", "SEQUENTIAL")
LOGIN_AS_TYPES = ("user.login", "account.hash", "account.id", "user.id")

# JSON-RPC 2.0's own codes
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
#: CALLR's codes are not published (UNCONFIRMED): these stand in for them, and the adapter
#: must not depend on more than "an error object with a code and a message"
CODES = {
    "auth": 22,
    "not_found": 20,
    "order_expired": 31,
    "order_not_found": 32,
    "already_assigned": 40,
    "rate_limited": 429,
}


class RpcError(Exception):
    """A JSON-RPC error object, answered with `status` (CALLR's HTTP status: UNCONFIRMED)."""

    def __init__(self, code: int, message: str, status: int | None = None, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data


def short_hash(text: str) -> str:
    """Eight upper-case letters and digits, CALLR-like ("LXLGRVDT"), stable for `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode("ascii")[:8]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


class CallrEmulator:
    """WSGI app emulating one CALLR account backed by `world`.

    `auth_id` is the login (Basic auth), `auth_token` the API key; Basic auth takes the key
    as the password too (names shared with the other emulators, for `serve`).

    Options for UNCONFIRMED behaviour and for tests:
    - `error_status` (200): the HTTP status that carries a JSON-RPC `error` object (the
      TypeScript client reads error bodies on any status; the Go SDK expects 200);
      `auth_status` (401) the one for refused credentials.
    - `codes`: CALLR's error codes by meaning (`CODES`); not published.
    - `reservation_ttl` (300 s) and `clock` (time.time): how long `did/store.reserve` holds
      its numbers; a test moves the clock to make a token lapse.
    - `short_stock`: area-code id -> at most this many numbers per reservation, to make a
      reservation return fewer items than asked (the reference says it may).
    - `max_page` (100): the largest `did.search` page; bigger `limit`s are cut to it.
    - `gold_multiplier` (10): how much dearer a GOLD number is than a CLASSIC one.
    - `assign_moves` (True): `apps.assign_did` on a DID held by another app moves it; False:
      error `already_assigned`.
    - `sequential_mode` ("SEQUENTIAL"): the assignment mode string for consecutive numbers
      (only "RANDOM" is confirmed). Both modes hand out numbers in catalogue order here.
    """

    env_credentials = (ENV_LOGIN, ENV_API_KEY)
    default_credentials = (DEFAULT_LOGIN, DEFAULT_API_KEY)

    def __init__(
        self,
        world: Any,
        auth_id: str = DEFAULT_LOGIN,
        auth_token: str = DEFAULT_API_KEY,
        *,
        error_status: int = 200,
        auth_status: int = 401,
        codes: Mapping[str, int] | None = None,
        reservation_ttl: float = RESERVATION_TTL,
        clock: Callable[[], float] = time.time,
        short_stock: Mapping[int, int] | None = None,
        max_page: int = MAX_PAGE,
        gold_multiplier: int = 10,
        assign_moves: bool = True,
        sequential_mode: str = "SEQUENTIAL",
        lock: threading.RLock | None = None,
    ):
        self.world = world
        self.login = auth_id
        self.api_key = auth_token
        self.error_status = error_status
        self.auth_status = auth_status
        self.codes = {**CODES, **(codes or {})}
        self.reservation_ttl = reservation_ttl
        self.clock = clock
        self.short_stock = dict(short_stock or {})
        self.max_page = max_page
        self.gold_multiplier = gold_multiplier
        self.assign_moves = assign_moves
        self.assign_modes = ("RANDOM", sequential_mode)
        self.lock = lock or threading.RLock()
        #: DID number -> its class (numbers absent are CLASSIC)
        self.classes: dict[str, str] = {}
        #: reservation token -> {"world": World token, "area": id, "class": ..., "expire": ...}
        self.orders: dict[str, dict[str, Any]] = {}
        #: tokens by what became of them: "bought", "cancelled", "expired"
        self.closed: dict[str, str] = {}
        #: every JSON-RPC method called, in order (the FaultInjector's log has them too)
        self.calls: list[str] = []
        #: the `Callr-Login-As` values seen, and the request content types (the SDKs send
        #: `application/json-rpc; charset=utf-8`; whether others are refused is UNCONFIRMED,
        #: so any JSON body is read)
        self.login_as: list[str] = []
        self.content_types: set[str] = set()
        self._hashes: tuple[int, dict[str, str]] = (-1, {})
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "system.get_timestamp": self.get_timestamp,
            "did/areacode.countries": self.countries,
            "did/areacode.types": self.types,
            "did/areacode.get_list": self.area_codes,
            "did/store.get_quote": self.get_quote,
            "did/store.reserve": self.reserve,
            "did/store.view_order": self.view_order,
            "did/store.buy_order": self.buy_order,
            "did/store.cancel_order": self.cancel_order,
            "did/store.cancel_subscription": self.cancel_subscription,
            "did.search": self.search_dids,
            "apps.get_dids": self.get_dids,
            "apps.get_list": self.get_apps,
            "apps.search": self.search_apps,
            "apps.assign_did": self.assign_did,
            "apps.remove_did": self.remove_did,
        }

    def provider_settings(self, base_url: str) -> dict[str, Any]:
        """Settings a `type: callr` provider needs to talk to this emulator at `base_url`."""
        return {"api_key": self.api_key, "base_url": base_url}

    # ----------------------------------------------------------------- for tests
    def open_orders(self) -> dict[str, dict[str, Any]]:
        """Reservations still alive (neither bought, cancelled nor lapsed), by token."""
        with self.lock:
            self._expire()
            return {t: dict(o) for t, o in self.orders.items()}

    def describe_path(self, environ: dict) -> str:
        """The path with the JSON-RPC method, for the FaultInjector's log and its matches
        ("/json-rpc/v1.1/did/store.buy_order"); the body is put back for the app."""
        path = environ.get("PATH_INFO", "/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            method = json.loads(body).get("method")
        except (ValueError, AttributeError):
            return path
        return path + method if isinstance(method, str) else path

    # ----------------------------------------------------------------- WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        return self.handle(environ)(start_response)

    def handle(self, environ: dict) -> Response:
        method = environ["REQUEST_METHOD"].upper()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        if environ.get("PATH_INFO") != ENDPOINT:
            return self._error(None, RpcError(METHOD_NOT_FOUND, "Not found", 404))
        if method != "POST":
            return self._error(None, RpcError(INVALID_REQUEST, "Only POST is handled", 405))
        rpc_id = None
        self.content_types.add(environ.get("CONTENT_TYPE", ""))
        try:
            self._authenticate(environ)
            call = self._envelope(body)
            rpc_id = call["id"]
            handler = self.methods.get(call["method"])
            if handler is None:
                raise RpcError(METHOD_NOT_FOUND, f"Method not found: {call['method']}")
            with self.lock:
                self.calls.append(call["method"])
                self._expire()
                result = handler(call["params"])
        except RpcError as exc:
            return self._error(rpc_id, exc)
        except Exception as exc:  # an emulator bug: answer like a server error, visibly
            return self._error(rpc_id, RpcError(-32603, f"emulator error: {exc!r}", 500))
        return json_response(200, {"jsonrpc": "2.0", "id": rpc_id, "result": result})

    def _error(self, rpc_id: Any, exc: RpcError) -> Response:
        error = {"code": exc.code, "message": exc.message, "data": exc.data}
        status = exc.status or self.error_status
        return json_response(status, {"jsonrpc": "2.0", "id": rpc_id, "error": error})

    def _authenticate(self, environ: dict) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        ok = scheme.lower() == "api-key" and value.strip() == self.api_key
        if scheme.lower() == "basic":
            ok = parse_basic_auth(header) == (self.login, self.api_key)
        if not ok:
            raise RpcError(self.codes["auth"], "Authentication failed", self.auth_status)
        login_as = environ.get("HTTP_CALLR_LOGIN_AS")
        if login_as is not None:
            kind, _, target = login_as.partition(" ")
            if kind.lower() not in LOGIN_AS_TYPES or not target.strip():
                raise RpcError(
                    self.codes["auth"], f"Invalid Callr-Login-As {login_as!r}", self.auth_status
                )
            self.login_as.append(login_as)

    @staticmethod
    def _envelope(body: bytes) -> dict[str, Any]:
        try:
            call = json.loads(body)
        except ValueError:
            raise RpcError(PARSE_ERROR, "Parse error: the body is not JSON") from None
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0":
            raise RpcError(INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"')
        if isinstance(call.get("id"), bool) or not isinstance(call.get("id"), int):
            raise RpcError(INVALID_REQUEST, "Invalid request: notifications are not supported")
        if not isinstance(call.get("method"), str):
            raise RpcError(INVALID_REQUEST, 'Invalid request: "method" must be a string')
        if not isinstance(call.get("params"), list):
            raise RpcError(INVALID_REQUEST, 'Invalid request: "params" must be an array')
        return call

    # ----------------------------------------------------------------- parameters
    @staticmethod
    def _args(params: list[Any], *kinds: type | tuple[type, ...]) -> list[Any]:
        if len(params) != len(kinds):
            raise RpcError(INVALID_PARAMS, f"Invalid params: expected {len(kinds)} arguments")
        for position, (value, kind) in enumerate(zip(params, kinds, strict=True), 1):
            if isinstance(value, bool) and kind is int or not isinstance(value, kind):
                raise RpcError(INVALID_PARAMS, f"Invalid params: argument {position} is malformed")
        return params

    def _group(self, area_id: int) -> Any:
        groups = self.world.groups
        if not 1 <= area_id <= len(groups) or groups[area_id - 1].number_type not in TYPES:
            raise RpcError(self.codes["not_found"], f"Area code {area_id} not found")
        return groups[area_id - 1]

    def _class(self, value: str) -> str:
        if value not in CLASSES:
            raise RpcError(INVALID_PARAMS, f"Invalid params: unknown DID class {value!r}")
        return value

    # ----------------------------------------------------------------- discovery
    def get_timestamp(self, params: list[Any]) -> int:
        self._args(params)
        return int(self.clock())

    def countries(self, params: list[Any]) -> list[dict[str, str]]:
        self._args(params)
        codes = sorted({g.country for g in self.world.groups if g.number_type in TYPES})
        return [{"code": c, "name": c} for c in codes]

    def types(self, params: list[Any]) -> list[dict[str, str]]:
        (country,) = self._args(params, str)
        found = {TYPES[g.number_type] for g in self._sold(country)}
        return [{"code": t, "name": TYPE_NAMES[t]} for t in sorted(found)]

    def area_codes(self, params: list[Any]) -> list[dict[str, Any]]:
        country, kind = self._args(params, str, (str, type(None)))
        return [
            self._area(g)
            for g in self._sold(country)
            if kind is None or TYPES[g.number_type] == kind
        ]

    def _sold(self, country: str) -> list[Any]:
        return [
            g for g in self.world.groups if g.country == country.upper() and g.number_type in TYPES
        ]

    def _area(self, group: Any) -> dict[str, Any]:
        calling_code = phonenumbers.country_code_for_region(group.country)
        name = (group.region or TYPE_NAMES[TYPES[group.number_type]]).split(",")[0]
        return {
            "id": self.world.groups.index(group) + 1,
            "name": name.strip().title(),
            "prefix": f"+{calling_code}{group.prefix}",
            "country_code": group.country,
            "type": TYPES[group.number_type],
        }

    def get_quote(self, params: list[Any]) -> dict[str, Any]:
        area_id, did_class, quantity = self._args(params, int, str, int)
        group = self._group(area_id)
        return {"cost": self._cost(group, self._class(did_class), quantity), **self._contract()}

    def _cost(self, group: Any, did_class: str, quantity: int) -> dict[str, Any]:
        """The order's cost block; amounts are totals for `quantity` numbers (UNCONFIRMED:
        CALLR's only example is for one number, where totals and unit prices agree)."""
        factor = self.gold_multiplier if did_class == "GOLD" else 1
        monthly = Decimal(group.monthly) * factor * quantity
        setup = Decimal(group.setup) * factor * quantity
        return {
            "amount_unit": group.currency,
            "quantity": quantity,
            "quantity_paying": quantity,
            "discount_percent": 0,
            "first_month_remaining_days": 30,
            "amount_assignment": _money(setup),
            "amount_first_month": _money(monthly),
            "amount_per_month": _money(monthly),
            "amount_prepaid_debit": _money(monthly + setup),
        }

    @staticmethod
    def _contract() -> dict[str, Any]:
        return {"contract": {"billing_mode": "MONTHLY", "duration_month": 1, "end_date": None}}

    # ----------------------------------------------------------------- the store
    def reserve(self, params: list[Any]) -> dict[str, Any]:
        area_id, did_class, quantity, mode = self._args(params, int, str, int, str)
        group = self._group(area_id)
        self._class(did_class)
        if mode not in self.assign_modes:
            raise RpcError(INVALID_PARAMS, f"Invalid params: unknown assignment mode {mode!r}")
        if quantity < 1:
            raise RpcError(INVALID_PARAMS, "Invalid params: quantity must be at least 1")
        quantity = min(quantity, self.short_stock.get(area_id, quantity))
        found, _ = self.world.search(
            group.country, group.number_type, prefix=group.prefix, limit=quantity
        )
        numbers = [a.number for a in found if self.world.group_for_sale(a.number) is group]
        now = self.clock()
        token = secrets.token_urlsafe(30)[:40]
        world_token = self.world.reserve(numbers, self.reservation_ttl, now)
        self.orders[token] = {
            "world": world_token,
            "area": area_id,
            "class": did_class,
            "numbers": numbers,
            "expire": now + self.reservation_ttl,
        }
        return self._reservation(token)

    def _reservation(self, token: str) -> dict[str, Any]:
        order = self.orders[token]
        group = self.world.groups[order["area"] - 1]
        return {
            "token": token,
            "expire": _stamp(order["expire"]),
            "items": [self._item(n) for n in order["numbers"]],
            "cost": self._cost(group, order["class"], len(order["numbers"])),
            **self._contract(),
        }

    def _item(self, number: str) -> dict[str, str]:
        parsed = phonenumbers.parse(number)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return {
            "hash": short_hash(number),
            "intl_number": number,
            "local_number": national.replace(" ", ""),
        }

    def _order(self, params: list[Any]) -> tuple[str, dict[str, Any]]:
        (token,) = self._args(params, str)
        order = self.orders.get(token)
        if order is None:
            if self.closed.get(token) == "expired":
                raise RpcError(self.codes["order_expired"], f"Order {token} has expired")
            raise RpcError(self.codes["order_not_found"], f"Order {token} not found")
        return token, order

    def view_order(self, params: list[Any]) -> dict[str, Any]:
        token, _ = self._order(params)
        return self._reservation(token)

    def buy_order(self, params: list[Any]) -> dict[str, Any]:
        token, order = self._order(params)
        reservation = self._reservation(token)
        try:
            bought = self.world.buy_reserved(order["world"], self.clock())
        except world_module.ReservationExpired:
            self._close(token, "expired")
            raise RpcError(self.codes["order_expired"], f"Order {token} has expired") from None
        self._close(token, "bought")
        for owned in bought:
            self.classes[owned.number] = order["class"]
        return {
            "success": [self._item(n.number) for n in bought],
            "cost": reservation["cost"],
            "contract": reservation["contract"],
            "customer_debit": reservation["cost"]["amount_prepaid_debit"],
        }

    def cancel_order(self, params: list[Any]) -> bool:
        token, order = self._order(params)
        self.world.cancel_reservation(order["world"])
        self._close(token, "cancelled")
        return True

    def _close(self, token: str, how: str) -> None:
        self.orders.pop(token, None)
        self.closed[token] = how

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, o in self.orders.items() if o["expire"] <= now]:
            self.world.cancel_reservation(self.orders[token]["world"])
            self._close(token, "expired")

    def cancel_subscription(self, params: list[Any]) -> bool:
        (did_hash,) = self._args(params, str)
        number = self._did(did_hash)
        self.world.release(number)
        self.classes.pop(number, None)
        return True

    # ----------------------------------------------------------------- owned DIDs
    def _did(self, did_hash: str) -> str:
        version, by_hash = self._hashes
        if version != self.world.version:
            by_hash = {short_hash(n): n for n in self.world.numbers}
            self._hashes = (self.world.version, by_hash)
        number = by_hash.get(did_hash)
        if number is None or number not in self.world.numbers:
            raise RpcError(self.codes["not_found"], f"DID {did_hash} not found")
        return number

    def _app_hash(self, app_id: str | None) -> str | None:
        return None if app_id is None else short_hash("app:" + app_id)

    def _app_id(self, app_hash: str) -> str:
        for app_id in self.world.apps:
            if self._app_hash(app_id) == app_hash:
                return app_id
        raise RpcError(self.codes["not_found"], f"App {app_hash} not found")

    def _did_record(self, owned: Any, rich: bool) -> dict[str, Any]:
        item = self._item(owned.number)
        record: dict[str, Any] = {
            "hash": item["hash"],
            "class": self.classes.get(owned.number, "CLASSIC"),
            "type": TYPES.get(owned.number_type, "SPECIAL"),
            "country_code": owned.country,
            "local_number": item["local_number"],
            "intl_number": owned.number,
        }
        if not rich:
            record["app"] = self._app_hash(owned.app_id)
            return record
        record.update(
            {
                "assigned_at": f"{owned.added_on} 00:00:00" if owned.added_on else None,
                "is_used": owned.app_id is not None,
                "contract_auto_renew": True,
                "pricing": {"nrc": 0, "mrc": float(owned.monthly), "setup": _money(owned.setup)},
                "app": None if owned.app_id is None else self._app(owned.app_id),
            }
        )
        return record

    def search_dids(self, params: list[Any]) -> dict[str, Any]:
        _filters, paging = self._args(params, dict, dict)
        offset, limit = self._paging(paging)
        page, total = self.world.owned(offset, limit=limit)
        return {
            "hits": [self._did_record(n, rich=True) for n in page],
            "total": total,
            "offset": offset,
            "has_more": offset + len(page) < total,
        }

    def _paging(self, paging: Mapping[str, Any]) -> tuple[int, int]:
        offset, limit = paging.get("offset", 0), paging.get("limit", DEFAULT_PAGE)
        for name, value in (("offset", offset), ("limit", limit)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RpcError(INVALID_PARAMS, f"Invalid params: pagination {name} is malformed")
        return offset, max(1, min(limit, self.max_page))

    def get_dids(self, params: list[Any]) -> list[dict[str, Any]]:
        (only_available,) = self._args(params, bool)
        page, _ = self.world.owned()
        return [
            self._did_record(n, rich=False)
            for n in page
            if not (only_available and n.app_id is not None)
        ]

    # ----------------------------------------------------------------- apps
    def _app(self, app_id: str, with_numbers: bool = False) -> dict[str, Any]:
        app: dict[str, Any] = {
            "hash": self._app_hash(app_id),
            "name": self.world.apps[app_id],
            "package": {"name": "ACTIONS10", "type": "ACTIONS", "has_did": True},
            "date_creation": "2024-12-30 15:24:22",
            "date_update": "2024-12-30 15:24:22",
        }
        if with_numbers:
            page, _ = self.world.owned(app_id=app_id)
            app["did"] = [self._did_record(n, rich=False) for n in page]
        return app

    def get_apps(self, params: list[Any]) -> list[dict[str, Any]]:
        (with_numbers,) = self._args(params, bool)
        return [self._app(app_id, with_numbers) for app_id in sorted(self.world.apps)]

    def search_apps(self, params: list[Any]) -> dict[str, Any]:
        _filters, paging = self._args(params, dict, dict)
        offset, limit = self._paging(paging)
        apps = sorted(self.world.apps)
        page = apps[offset : offset + limit]
        return {
            "hits": [self._app(a) for a in page],
            "total": len(apps),
            "offset": offset,
            "has_more": offset + len(page) < len(apps),
        }

    def assign_did(self, params: list[Any]) -> bool:
        app_hash, did_hash = self._args(params, str, str)
        app_id = self._app_id(app_hash)
        number = self._did(did_hash)
        held = self.world.numbers[number].app_id
        if held not in (None, app_id) and not self.assign_moves:
            raise RpcError(self.codes["already_assigned"], f"DID {did_hash} is assigned already")
        self.world.update(number, app_id=app_id)
        return True

    def remove_did(self, params: list[Any]) -> bool:
        (did_hash,) = self._args(params, str)
        number = self._did(did_hash)
        if self.world.numbers[number].app_id is not None:
            self.world.update(number, app_id=None)
        return True
