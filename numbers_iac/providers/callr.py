"""CALLR adapter: the Provider contract over CALLR's DID store (see shared/providers/callr.md
and shared/seeds/callr-numbers.txt).

CALLR sells by area code, class and quantity, in two steps: `did/store.reserve` holds numbers
and answers them with a token and a price, then `did/store.buy_order` buys exactly those, or
`did/store.cancel_order` gives them back. That is the core's `reserve` purchase mode: `offer`
reserves, `commit` buys, `abort` cancels, and the core journals the token and its expiry
before the buy. Owned DIDs are identified by their hash; labels live in the state store.

Everything about the wire lives in `JsonRpcDialect` (CALLR's JSON-RPC v1.1: one URL,
positional params, errors in the body). CALLR shuts JSON-RPC v1 down on 2027-06-30; a REST
v2 dialect with the same methods and records can replace it without touching the rest.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol

import httpx

from numbers_iac.errors import (
    AuthError,
    IncompleteListingError,
    NotFoundError,
    OfferExpiredError,
    OutcomeUnknownError,
    Problem,
    ProviderError,
    RateLimitedError,
    TransientError,
    UnknownRegionError,
)
from numbers_iac.model import (
    RESERVE,
    Account,
    App,
    Attempt,
    Declaration,
    OwnedNumber,
    Price,
    ProviderConfig,
    Where,
)
from numbers_iac.phones import prefix_digits
from numbers_iac.providers.auth import BasicAuth, HeaderAuth
from numbers_iac.providers.base import (
    BatchOutcome,
    Candidate,
    Capabilities,
    InventoryRow,
    Offer,
    Progress,
    Provider,
    PurchaseRequest,
    Quote,
    Recovery,
    for_sale_hint,
    no_progress,
    recover_from_listing,
)
from numbers_iac.providers.http import (
    MAX_RETRIES_SETTING,
    TIMEOUT_SETTING,
    BodyFault,
    HttpClient,
    client_for,
    require_credentials,
)
from numbers_iac.providers.paging import offset_pages

DEFAULT_BASE_URL = "https://api.callr.com"
ENV_API_KEY = "CALLR_API_KEY"
ENV_LOGIN = "CALLR_LOGIN"
ENV_PASSWORD = "CALLR_PASSWORD"
#: numbers per `did.search` page: the most CALLR serves (UNCONFIRMED; REST v2 stops at 100)
PAGE_SIZE = 100
#: our number type -> CALLR's DID type (CALLR sells no mobile numbers)
DID_TYPES = {"local": "GEOGRAPHIC", "national": "SHAREDCOST", "tollfree": "TOLLFREE"}
NUMBER_TYPES = {did: ours for ours, did in DID_TYPES.items()}
CLASSES = {"classic": "CLASSIC", "gold": "GOLD"}
#: `assignment:` -> CALLR's assignment mode ("SEQUENTIAL" is UNCONFIRMED; "RANDOM" is in
#: every SDK example)
ASSIGNMENTS = {"random": "RANDOM", "sequential": "SEQUENTIAL"}


class UnknownToCallrError(NotFoundError):
    """CALLR's own JSON-RPC error says it does not know the DID, subscription or order.
    Only this proves the thing gone: CALLR answers every method on one URL, so a bare
    HTTP 404 is something in front of it (a proxy's page), and a failure."""


class CallUnservedError(ProviderError):
    """JSON-RPC's own -32601 (method not found) or -32602 (invalid params): the server does
    not take the call as we wrote it, so nothing was done."""


#: CALLR's error codes are not published: the ones known to mean something here
#: (UNCONFIRMED, kept in step with what the emulator answers); the rest are ProviderErrors
ERROR_CLASSES: Mapping[int, type[ProviderError]] = {
    22: AuthError,
    20: UnknownToCallrError,  # no such DID or subscription
    31: OfferExpiredError,  # the order lapsed
    32: UnknownToCallrError,  # no such order (bought, cancelled, or never made)
    429: RateLimitedError,
    -32601: CallUnservedError,  # JSON-RPC 2.0's codes, whoever serves it
    -32602: CallUnservedError,
}


# =================================================================== the wire dialect


@dataclass(frozen=True)
class AreaCode:
    """Where CALLR sells: an area code id, its name ("Amiens"), prefix ("+33322"), type."""

    area_id: int
    name: str
    prefix: str
    did_type: str


@dataclass(frozen=True)
class Did:
    """A DID as a listing or an order shows it."""

    did_hash: str
    e164: str
    did_class: str = "CLASSIC"
    did_type: str | None = None
    country: str | None = None
    app_hash: str | None = None


@dataclass(frozen=True)
class Reservation:
    """What `did/store.reserve` holds: the token, its expiry (ISO 8601), the DIDs and the
    price per number."""

    token: str
    expires_at: str | None
    items: tuple[Did, ...]
    price: Price | None


def rpc_error(body: Any) -> BodyFault | None:
    """A JSON-RPC `error` object as a typed fault with CALLR's code and message, whatever
    the HTTP status (a bare `{"error": "text"}` from a proxy is left to the status)."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    code = error.get("code")
    message = str(error.get("message") or "no message")
    cls = ERROR_CLASSES.get(code, ProviderError) if isinstance(code, int) else ProviderError
    detail = f"{message} (CALLR error {code})"
    return BodyFault(detail, cls, transient=cls is RateLimitedError)


def rpc_error_text(response: httpx.Response) -> str | None:
    """The body's text for an error without a JSON-RPC error object (a proxy's page)."""
    return response.text.strip() or None


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except InvalidOperation:
        return None


def _iso(stamp: Any) -> str | None:
    """CALLR's UTC "YYYY-MM-DD HH:MM:SS[.sss]" as ISO 8601."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace(" ", "T"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat(timespec="seconds")


def _price(cost: Any) -> Price | None:
    """Per number, from a `cost` block (`amount_assignment` once, `amount_per_month`).

    Whether the amounts are per number or for the whole order is UNCONFIRMED (CALLR's only
    example is for one number). They are read as the order's totals and divided by its
    `quantity`: were they per number, a price rise would go unnoticed on a multi-number
    reservation, whereas the other reading would cancel every one of them as too dear.
    Quotes ask for one number, where both readings agree."""
    if not isinstance(cost, dict):
        return None
    monthly = _decimal(cost.get("amount_per_month"))
    if monthly is None:
        return None
    setup = _decimal(cost.get("amount_assignment")) or Decimal(0)
    quantity = cost.get("quantity")
    if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 1:
        monthly, setup = monthly / quantity, setup / quantity
    return Price(setup, monthly, str(cost.get("amount_unit") or "EUR"))


def _area_id(value: Any) -> int | None:
    """An area code's id: a number, or its digits as text (CALLR's own TypeScript example
    passes one as a string; the type is not published)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _did(record: Any) -> Did:
    record = record if isinstance(record, dict) else {}
    app = record.get("app")
    app_hash = app.get("hash") if isinstance(app, dict) else app  # object or hash
    return Did(
        did_hash=str(record.get("hash") or ""),
        e164=str(record.get("intl_number") or ""),
        did_class=str(record.get("class") or "CLASSIC"),
        did_type=record.get("type"),
        country=record.get("country_code"),
        app_hash=str(app_hash) if app_hash else None,
    )


class Dialect(Protocol):
    """What the adapter asks of CALLR's wire, in its own records. JSON-RPC v1.1 is
    `JsonRpcDialect`; a REST v2 dialect (`GET /numbers/store/prefixes`, `POST
    /numbers/store`, `POST /numbers/store/{token}`, `DELETE /numbers/{number}`, ...) would
    implement the same methods, and nothing else in this module would change."""

    def countries(self) -> list[str]: ...
    def types(self, country: str) -> list[str]: ...
    def area_codes(self, country: str, did_type: str | None) -> list[AreaCode]: ...
    def quote(self, area_id: int, did_class: str, quantity: int) -> Price | None: ...
    def reserve(self, area_id: int, did_class: str, quantity: int, mode: str) -> Reservation: ...
    def view_order(self, token: str) -> Reservation: ...
    def buy_order(self, token: str) -> list[Did]: ...
    def cancel_order(self, token: str) -> None: ...
    def cancel_subscription(self, did_hash: str) -> None: ...
    def dids(self, page_size: int, progress: Progress) -> Iterator[Did]: ...
    def all_dids(self) -> list[Did]: ...
    def apps(self) -> list[tuple[str, str]]: ...
    def assign(self, app_hash: str, did_hash: str) -> None: ...
    def unassign(self, did_hash: str) -> None: ...


class JsonRpcDialect:
    """CALLR's JSON-RPC v1.1: one `POST /json-rpc/v1.1/`, `{"jsonrpc", "id", "method",
    "params": [positional]}`, answers in `result` or `error`. Each method speaks one CALLR
    method and returns the records above; nothing else in the adapter knows the wire."""

    path = "/json-rpc/v1.1/"
    #: what the official SDKs send (UTF-8 only)
    headers = {"Content-Type": "application/json-rpc; charset=utf-8"}

    def __init__(self, http: Any):
        self.http = http
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def call(self, method: str, params: list[Any], operation: str, retry: bool = True) -> Any:
        with self._lock:
            rpc_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}
        answer = self.http.request_json(
            "POST", self.path, operation=operation, json=body, retry=retry, headers=self.headers
        )
        if not isinstance(answer, dict) or "result" not in answer:
            raise ProviderError(
                self.http.provider_name, operation, "the answer has no JSON-RPC result"
            )
        if answer.get("id") != rpc_id:  # another call's answer: trust neither
            raise ProviderError(
                self.http.provider_name,
                operation,
                f"the answer is for call {answer.get('id')!r}, not {rpc_id}",
            )
        return answer["result"]

    # ---------------------------------------------------------------- discovery
    def countries(self) -> list[str]:
        found = self.call("did/areacode.countries", [], "list countries")
        return [str(c.get("code")) for c in found or [] if isinstance(c, dict)]

    def area_codes(self, country: str, did_type: str | None) -> list[AreaCode]:
        found = self.call(
            "did/areacode.get_list", [country, did_type], f"list area codes of {country}"
        )
        return [
            AreaCode(_area_id(a["id"]), str(a.get("name") or ""), str(a.get("prefix") or ""), t)
            for a in found or []
            if isinstance(a, dict) and _area_id(a.get("id")) is not None
            for t in [str(a.get("type") or did_type or "")]
        ]

    def types(self, country: str) -> list[str]:
        found = self.call("did/areacode.types", [country], f"list number types of {country}")
        return [str(t.get("code") if isinstance(t, dict) else t) for t in found or []]

    def quote(self, area_id: int, did_class: str, quantity: int) -> Price | None:
        found = self.call(
            "did/store.get_quote", [area_id, did_class, quantity], "get a price quote"
        )
        return _price(found.get("cost") if isinstance(found, dict) else None)

    # ---------------------------------------------------------------- the store
    def reserve(self, area_id: int, did_class: str, quantity: int, mode: str) -> Reservation:
        found = self.call(
            "did/store.reserve",
            [area_id, did_class, quantity, mode],
            f"reserve {quantity} numbers",
            retry=False,  # a resent reserve holds a second order nobody can name
        )
        return self._reservation(found, "reserve numbers")

    def view_order(self, token: str) -> Reservation:
        found = self.call("did/store.view_order", [token], "view a reservation")
        return self._reservation(found, "view a reservation")

    def buy_order(self, token: str) -> list[Did]:
        found = self.call("did/store.buy_order", [token], "buy the reservation", retry=False)
        success = found.get("success") if isinstance(found, dict) else None
        if not isinstance(success, list):
            raise OutcomeUnknownError(
                self.http.provider_name, "buy the reservation", "the answer lists no numbers"
            )
        return [_did(d) for d in success]

    def cancel_order(self, token: str) -> None:
        self.call("did/store.cancel_order", [token], "cancel a reservation")

    def cancel_subscription(self, did_hash: str) -> None:
        self.call("did/store.cancel_subscription", [did_hash], f"release DID {did_hash}")

    def _reservation(self, found: Any, operation: str) -> Reservation:
        if not isinstance(found, dict) or not found.get("token"):
            raise ProviderError(self.http.provider_name, operation, "the answer has no token")
        items = found.get("items")
        return Reservation(
            token=str(found["token"]),
            expires_at=_iso(found.get("expire")),
            items=tuple(_did(d) for d in items or []),
            price=_price(found.get("cost")),
        )

    # ---------------------------------------------------------------- owned DIDs and apps
    def dids(self, page_size: int, progress: Progress) -> Iterator[Did]:
        def fetch(params: dict[str, Any]) -> Any:
            return self.call("did.search", [{}, params], "list owned numbers")

        records = offset_pages(
            fetch,
            items=lambda body: body.get("hits") if isinstance(body, dict) else None,
            total=lambda body: body.get("total") if isinstance(body, dict) else None,
            has_more=lambda body: isinstance(body, dict) and body.get("has_more") is True,
            key=lambda record: record.get("hash") if isinstance(record, dict) else None,
            page_size=page_size,
            provider=self.http.provider_name,
            operation="list owned numbers",
            progress=progress,
            noun="numbers",
        )
        return (_did(record) for record in records)

    def all_dids(self) -> list[Did]:
        """Every DID at once: `apps.get_dids [false]`, the listing CALLR's own help
        documents (unpaged; whether it caps its answer is UNCONFIRMED)."""
        found = self.call("apps.get_dids", [False], "list owned numbers")
        if not isinstance(found, list):
            raise ProviderError(
                self.http.provider_name, "list owned numbers", "the answer is not a list of DIDs"
            )
        return [_did(record) for record in found]

    def apps(self) -> list[tuple[str, str]]:
        found = self.call("apps.get_list", [False], "list apps")
        return [
            (str(a["hash"]), str(a.get("name") or ""))
            for a in found or []
            if isinstance(a, dict) and a.get("hash")
        ]

    def assign(self, app_hash: str, did_hash: str) -> None:
        self.call("apps.assign_did", [app_hash, did_hash], f"bind DID {did_hash} to {app_hash}")

    def unassign(self, did_hash: str) -> None:
        self.call("apps.remove_did", [did_hash], f"unbind DID {did_hash}")


# =================================================================== the provider


class CallrProvider(Provider):
    """A CALLR account. Settings: `api_key` (default $CALLR_API_KEY), or `login` and
    `password` for Basic auth ($CALLR_LOGIN, $CALLR_PASSWORD); `login_as` to act as a
    sub-account; `base_url` (default https://api.callr.com), `timeout`, `max_retries`."""

    type_name: ClassVar[str] = "callr"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=False,
        ownership_tag=False,
        apps=True,
        purchase_modes=(RESERVE,),
        region_filter=True,
        prefix_filter=True,
        number_types=tuple(DID_TYPES),
        list_page_size=PAGE_SIZE,
        bind_batch_size=1,
        # the store takes no app: the core assigns what a buy bought, four at once
        binds_on_purchase=False,
        release_batch_size=1,
        # one apps.assign_did / cancel per number: four at once (no published rate limit)
        mutation_concurrency=4,
    )
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "api_key": {
            "description": "the CALLR API key (Authorization: Api-Key). Write ${CALLR_API_KEY}, never the key itself. Default: $CALLR_API_KEY.",
            "type": "string",
            "minLength": 1,
        },
        "login": {
            "description": "the CALLR login, for Basic auth instead of an API key. Default: $CALLR_LOGIN.",
            "type": "string",
            "minLength": 1,
        },
        "password": {
            "description": "the password for Basic auth. Write ${CALLR_PASSWORD}. Default: $CALLR_PASSWORD.",
            "type": "string",
            "minLength": 1,
        },
        "login_as": {
            "description": "act as a sub-account: the Callr-Login-As value, like 'user.login jdoe' or 'account.hash 3TXTPS65'.",
            "type": "string",
            "pattern": "^(user\\.login|account\\.hash|account\\.id|user\\.id) \\S+$",
        },
        "page_size": {
            "description": f"DIDs per did.search page (default {PAGE_SIZE}, the most CALLR serves).",
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_SIZE,
        },
        "timeout": TIMEOUT_SETTING,
        "max_retries": MAX_RETRIES_SETTING,
    }
    settings_keys: ClassVar[tuple[str, ...]] = tuple(settings_schema)
    #: `partial: false`: a reservation holding fewer numbers than asked is cancelled, not
    #: bought (the core's reserve protocol reads it)
    declaration_options: ClassVar[tuple[str, ...]] = ("class", "assignment", "partial")
    priced_options: ClassVar[tuple[str, ...]] = ("class",)

    @classmethod
    def validate_declaration(cls, declaration: Declaration) -> list[Problem]:
        """`class` is classic or gold, `assignment` random or sequential, `partial` true or
        false (the loader refuses mobile numbers from `capabilities.number_types`)."""
        problems: list[Problem] = []

        def problem(field: str, message: str) -> None:
            source = declaration.located(field)
            problems.append(
                Problem(
                    source.file if source else "<config>",
                    source.line if source else None,
                    source.column if source else None,
                    f"numbers.{declaration.name}.{field}",
                    message,
                )
            )

        for key, allowed in (("class", CLASSES), ("assignment", ASSIGNMENTS)):
            value = declaration.options.get(key)
            if key in declaration.options and value not in allowed:
                problem(key, f"{key} must be {' or '.join(allowed)}, not {value!r}")
        if "partial" in declaration.options and not isinstance(
            declaration.options["partial"], bool
        ):
            problem("partial", "partial must be true or false")
        return problems

    def __init__(
        self,
        config: ProviderConfig,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        dialect: Callable[[HttpClient], Dialect] = JsonRpcDialect,
    ):
        super().__init__(config)
        settings = config.settings
        api_key = str(settings.get("api_key") or os.environ.get(ENV_API_KEY) or "")
        login = str(settings.get("login") or os.environ.get(ENV_LOGIN) or "")
        password = str(settings.get("password") or os.environ.get(ENV_PASSWORD) or "")
        auth: BasicAuth | HeaderAuth
        if api_key or not (login or password):
            require_credentials(
                self.name,
                (("api_key", ENV_API_KEY, api_key),),
                f"export {ENV_API_KEY} (or {ENV_LOGIN} and {ENV_PASSWORD})",
            )
            auth = HeaderAuth(api_key, scheme="Api-Key")
        else:
            require_credentials(
                self.name,
                (("login", ENV_LOGIN, login), ("password", ENV_PASSWORD, password)),
                f"export {ENV_LOGIN} and {ENV_PASSWORD} (or {ENV_API_KEY})",
            )
            auth = BasicAuth(login, password)
        login_as = settings.get("login_as")
        http = client_for(
            config,
            str(settings.get("base_url") or DEFAULT_BASE_URL),
            auth=auth,
            secrets=[s for s in (api_key, password) if s],
            error_text=rpc_error_text,
            transport=transport,
            sleep=sleep,
            clock=clock,
            body_error=rpc_error,
            headers={"Callr-Login-As": str(login_as)} if login_as else None,
        )
        self.http = http
        self.wire = dialect(http)
        self.page_size = int(settings.get("page_size") or PAGE_SIZE)
        #: (country, our type) -> area codes for sale, read once per run
        self._areas: dict[tuple[str, str], list[AreaCode]] = {}

    def close(self) -> None:
        self.http.close()

    # ----------------------------------------------------------------- places
    def _area_codes(self, country: str, number_type: str) -> list[AreaCode]:
        key = (country.upper(), number_type)
        if key not in self._areas:
            did_type = DID_TYPES.get(number_type)
            found = self.wire.area_codes(key[0], did_type) if did_type else []
            self._areas[key] = found
        return self._areas[key]

    def _area(self, where: Where) -> AreaCode:
        """The area code a declaration's region or prefix names. Raises UnknownRegionError."""
        areas = self._area_codes(where.country, where.number_type)
        wanted = prefix_digits(where.prefix, where.country) if where.prefix else None
        region = (where.region or "").split(",")[0].strip().casefold()
        for area in areas:
            digits = prefix_digits(area.prefix, where.country)
            if region and area.name.casefold() != region:
                continue
            if wanted and not digits.startswith(wanted):  # a reservation cannot narrow it
                continue
            return area
        hint = for_sale_hint(where, self._rows(where.country, where.number_type, areas))
        place = where.region or where.prefix or "any area code"
        raise UnknownRegionError(
            self.name,
            "find the area code",
            f"CALLR sells no {where.number_type} numbers at {place} ({where.country})"
            f"{f'. {hint}' if hint else ''}. Run `numbers-iac inventory {self.name} "
            f"--country {where.country}` to see what is for sale",
        )

    def _rows(
        self, country: str, number_type: str, areas: Sequence[AreaCode]
    ) -> list[InventoryRow]:
        return [
            InventoryRow(
                country,
                number_type,
                a.name if number_type == "local" else None,
                prefix_digits(a.prefix, country),  # as a declaration's `prefix` takes it
                None,
                None,
            )
            for a in areas
        ]

    # ----------------------------------------------------------------- reads
    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        """Every DID through `did.search`, `page_size` a page (100: the most CALLR serves),
        the pages after the first fetched at once. CALLR documents no paging keys for it
        (`offset` and `limit` are REST v2's): should the server not take them (the call
        refused as written, or pages that repeat and leave the listing short of its
        total), the DIDs come from `apps.get_dids`, which answers all of them at once."""
        paged: dict[str, OwnedNumber] = {}
        try:
            return self._owned_all(self.wire.dids(self.page_size, progress), paged)
        except (CallUnservedError, IncompleteListingError) as failed:
            try:
                listed = self._owned_all(self.wire.all_dids(), {})
            except ProviderError:
                raise failed from None
            # Believed only if it is at least as complete as what the pages showed: a capped
            # answer taken for the whole account would hide a number an open purchase bought
            # (which the next plans would then buy again).
            expected = getattr(failed, "expected", None) or 0
            hashes = {n.provider_id for n in listed}
            if len(listed) < expected or any(n.provider_id not in hashes for n in paged.values()):
                raise failed from None
            return listed

    def _owned_all(
        self, dids: Iterable[Did], seen: dict[str, OwnedNumber]
    ) -> tuple[OwnedNumber, ...]:
        """The DIDs as owned numbers, once each; `seen` fills as they arrive."""
        for did in dids:
            if did.e164 and did.e164 not in seen:
                seen[did.e164] = self._owned(did)
        return tuple(seen.values())

    @staticmethod
    def _owned(did: Did) -> OwnedNumber:
        return OwnedNumber(
            number=did.e164,
            provider_id=did.did_hash,
            country=did.country,
            number_type=NUMBER_TYPES.get(did.did_type or ""),
            app_id=did.app_hash,
        )

    def list_apps(self) -> tuple[App, ...]:
        return tuple(App(app_hash, name) for app_hash, name in self.wire.apps())

    def quote(self, where: Where, count: int) -> Quote:
        return self.quote_options(where, count, {})

    def quote_options(self, where: Where, count: int, options: Mapping[str, Any]) -> Quote:
        """The price of one number of the declaration's class (Gold costs more); CALLR
        publishes no stock, only what a reservation manages to hold."""
        area = self._area(where)
        return Quote(self.wire.quote(area.area_id, self._class(options), 1))

    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        """Area codes for sale, priced (Classic) from `did/store.get_quote`."""
        country = country.upper()
        if country not in self.wire.countries():
            return []
        offered = {NUMBER_TYPES[t] for t in self.wire.types(country) if t in NUMBER_TYPES}
        rows: list[InventoryRow] = []
        for ours in [number_type] if number_type else list(DID_TYPES):
            if ours not in offered:
                continue
            for row, area in zip(
                self._rows(country, ours, self._area_codes(country, ours)),
                self._area_codes(country, ours),
                strict=True,
            ):
                rows.append(replace(row, price=self.wire.quote(area.area_id, "CLASSIC", 1)))
        return rows

    # ----------------------------------------------------------------- the purchase protocol
    @staticmethod
    def _class(options: Mapping[str, Any]) -> str:
        return CLASSES.get(str(options.get("class", "classic")), "CLASSIC")

    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        """Reserve `count` numbers at the declaration's area code: they are held for this
        account (spending nothing) until `commit` buys or `abort` cancels them."""
        if request.pinned or request.where is None:
            raise ProviderError(self.name, "reserve numbers", "CALLR sells by area code only")
        area = self._area(request.where)
        mode = ASSIGNMENTS.get(str(request.options.get("assignment", "random")), "RANDOM")
        held = self.wire.reserve(area.area_id, self._class(request.options), count, mode)
        candidates = tuple(
            Candidate(d.e164, d.did_hash, held.price, {"class": d.did_class})
            for d in held.items
            if d.e164
        )
        return Offer(
            request,
            RESERVE,
            len(candidates),
            candidates,
            handle=held.token,
            expires_at=held.expires_at,
            price=held.price,
        )

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """One `did/store.buy_order`, never resent. A token CALLR says is lapsed or unknown
        bought nothing (OfferExpiredError: reserve again); any answer that may hide a
        purchase is unknown, a bare HTTP 404 included (it is not CALLR's word)."""
        if offer.handle is None:
            raise ProviderError(self.name, "buy the reservation", "the offer holds no token")
        operation = f"buy {offer.count} reserved numbers"
        try:
            bought = self.wire.buy_order(offer.handle)
        except OfferExpiredError:
            raise
        except UnknownToCallrError as exc:
            raise OfferExpiredError(self.name, operation, exc.detail) from None
        except NotFoundError as exc:
            raise OutcomeUnknownError(self.name, operation, f"{exc.detail} (HTTP 404)") from None
        except TransientError as exc:
            if not exc.maybe_sent:
                raise
            raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
        except ProviderError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 499):
                raise
            raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
        where = offer.request.where
        return tuple(
            OwnedNumber(
                number=d.e164,
                provider_id=d.did_hash,
                country=where.country if where else None,
                number_type=where.number_type if where else None,
            )
            for d in bought
            if d.e164
        )

    def abort(self, offer: Offer) -> None:
        """Cancel the reservation; a lapsed one needs nothing. An order CALLR no longer
        knows raises: it may have been bought by a buy still in flight."""
        if offer.handle is None:
            return
        try:
            self.wire.cancel_order(offer.handle)
        except OfferExpiredError:
            return

    def recover(self, attempts: Sequence[Attempt], account: Account) -> list[Recovery]:
        """The listing first; a reservation none of whose numbers are listed is asked
        about: still open means its buy never happened (settled, nothing bought; the apply
        cancels it before buying again). A token CALLR no longer knows proves nothing (it may
        have been bought a moment ago): that attempt waits for the listing or its time."""
        found = []
        for attempt in attempts:
            recovery = recover_from_listing(attempt, account)
            if attempt.mode == RESERVE and attempt.handle and not recovery.produced:
                recovery = self._ask_order(attempt, recovery)
            found.append(recovery)
        return found

    def _ask_order(self, attempt: Attempt, recovery: Recovery) -> Recovery:
        assert attempt.handle is not None
        try:
            held = self.wire.view_order(attempt.handle)
        except (OfferExpiredError, UnknownToCallrError):
            return recovery
        except ProviderError:
            return replace(recovery, uncertain=True)
        wanted = set(attempt.numbers)
        if wanted and {d.e164 for d in held.items} != wanted:
            return recovery  # not the reservation the journal remembers
        return replace(recovery, settled=True)

    # ----------------------------------------------------------------- other mutations
    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        """`apps.assign_did` (app first, DID second), or `apps.remove_did` to unbind."""
        done: list[str] = []
        failed: dict[str, str] = {}
        for number in numbers:
            try:
                if app_id is None:
                    self.wire.unassign(number.provider_id)
                else:
                    self.wire.assign(app_id, number.provider_id)
            except ProviderError as exc:
                failed[number.number] = exc.detail
                continue
            done.append(number.number)
        return BatchOutcome(tuple(done), failed)

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        """`did/store.cancel_subscription` per DID (immediate and permanent); a DID CALLR
        says it no longer knows is already released (a bare HTTP 404 is a failure), unless
        `apps.get_dids` still lists it: CALLR's error codes are not published, and a
        number recorded as released while still billed would be lost from sight."""
        failed: dict[str, str] = {}
        unknown: dict[str, tuple[str, str]] = {}  # DID hash -> (number, CALLR's words)
        for number in numbers:
            try:
                self.wire.cancel_subscription(number.provider_id)
            except UnknownToCallrError as exc:
                unknown[number.provider_id] = (number.number, exc.detail)
            except ProviderError as exc:
                failed[number.number] = exc.detail
        for did_hash in self._still_listed(unknown):
            number, detail = unknown[did_hash]
            failed[number] = f"{detail}, yet CALLR still lists it"
        return BatchOutcome(tuple(n.number for n in numbers if n.number not in failed), failed)

    def _still_listed(self, did_hashes: Iterable[str]) -> set[str]:
        """Those of `did_hashes` CALLR's one-answer listing still shows (one request, only
        when there are any); none when it cannot be read: its own word that it does not
        know them then stands."""
        wanted = set(did_hashes)
        if not wanted:
            return set()
        try:
            return wanted & {d.did_hash for d in self.wire.all_dids()}
        except ProviderError:
            return set()
