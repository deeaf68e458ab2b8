"""Plivo adapter: the Provider contract over Plivo's REST API (see shared/providers/plivo.md).

Wire facts this module leans on: paths `/v1/Account/{auth_id}/...` ending in `/`, Basic auth,
JSON bodies, numbers as digits without `+`, offset pagination capped at 20, no idempotency
keys (so a purchase is never retried blindly: the number is re-read instead).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx
import phonenumbers

from numbers_iac import phones
from numbers_iac.errors import (
    AuthError,
    NotFoundError,
    NumberUnavailableError,
    OutcomeUnknownError,
    ProviderError,
    RateLimitedError,
    TransientError,
    UnknownAppError,
    UnknownRegionError,
)
from numbers_iac.model import (
    ACTIVE,
    PENDING,
    SPECIFIC,
    Account,
    App,
    Attempt,
    OwnedNumber,
    Price,
    ProviderConfig,
    Where,
)
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
)
from numbers_iac.providers.http import (
    MAX_RETRIES_SETTING,
    TIMEOUT_SETTING,
    client_for,
    require_credentials,
)
from numbers_iac.providers.paging import map_concurrently, offset_pages, token_pages

DEFAULT_BASE_URL = "https://api.plivo.com"
ENV_AUTH_ID = "PLIVO_AUTH_ID"
ENV_AUTH_TOKEN = "PLIVO_AUTH_TOKEN"
PAGE_SIZE = 20
#: documented default: 300 non-call API requests per 5 seconds per account
RATE_LIMIT = (300, 5.0)
LIST_THREADS = 4
MUTATION_THREADS = 5
#: specific-number buys at once: each is its own POST, within the shared rate limit
PURCHASE_THREADS = 4
#: how many search pages one offer, quote or inventory may walk before giving up
MAX_SEARCH_PAGES = 25

#: our number type -> (Plivo search `type`, required `sub_type` or None)
SEARCH_TYPE = {
    "local": ("fixed", "local"),
    "national": ("fixed", "national"),
    "mobile": ("mobile", None),
    "tollfree": ("tollfree", None),
}
#: Plivo's `number_type` on owned numbers -> ours. `fixed` (it carries no sub_type there)
#: is Plivo's word for local and national alike: it is left out, so such a number has no
#: type (not ruled out for either) rather than a guess that contradicts a declaration
OWNED_TYPE = {
    "local": "local",
    "national": "national",
    "mobile": "mobile",
    "tollfree": "tollfree",
}
#: a buy refused with one of these means "this number, not the request, is the problem"
UNAVAILABLE_STATUSES = frozenset({400, 404, 409, 410, 422})


def plivo_error_text(response: httpx.Response) -> str | None:
    """Plivo's own error text: `error` (sometimes `message`) of the JSON body. Never cut
    here: the client shortens it after redaction, so no token is left half-hidden."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or None
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or body.get("detail")
        if isinstance(text, dict):
            return "; ".join(f"{k}: {v}" for k, v in text.items())
        return str(text) if text else None
    return None


def to_e164(digits: str) -> str:
    return "+" + digits.lstrip("+")


def to_digits(number: str) -> str:
    return number.lstrip("+")


def country_of(number: str) -> str | None:
    """The number's country, from its calling code (once per owned number: `phones` answers
    canonical numbers without a full parse)."""
    return phones.country_of(to_e164(number))


def app_id_from_uri(uri: str | None) -> str | None:
    """`/v1/Account/MA../Application/123/` -> "123"; null or "" -> None."""
    if not uri:
        return None
    parts = [p for p in str(uri).split("/") if p]
    return parts[-1] if parts else None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _objects(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return body.get("objects") or []


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("meta") or {}


def _has_next(body: Mapping[str, Any]) -> bool:
    """Whether a page says another follows it (`meta.next` on a page that held objects)."""
    return bool(_objects(body)) and bool(_meta(body).get("next"))


def _first_total() -> Callable[[Mapping[str, Any]], Any]:
    """`meta.total_count` as the first page told it, for every page of one listing.

    The listing stands for the account as its first page found it: a number bought meanwhile
    shifts the later pages (the pager drops the repeat) and is not owed, while one released
    meanwhile leaves a gap the count still catches. Trusting a later page's larger total
    would turn every purchase made during a listing into an incomplete listing."""
    told: list[Any] = []

    def total(body: Mapping[str, Any]) -> Any:
        if not told:
            told.append(_meta(body).get("total_count"))
        return told[0]

    return total


def _bought_status(response: httpx.Response, digits: str) -> str:
    """PENDING when Plivo says the number awaits approval; a body it cannot read is still
    a purchase (the 2xx said so)."""
    try:
        payload = response.json()
    except ValueError:
        return ACTIVE
    if not isinstance(payload, dict):
        return ACTIVE
    items = payload.get("numbers")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("number")) == digits:
            return PENDING if str(item.get("status")).lower() == "pending" else ACTIVE
    return PENDING if not items and str(payload.get("status")).lower() == "pending" else ACTIVE


class PlivoProvider(Provider):
    """A Plivo account. Settings: `auth_id`, `auth_token` (default: $PLIVO_AUTH_ID /
    $PLIVO_AUTH_TOKEN), `base_url`, `timeout`, `max_retries`, `rate_limit` ([requests,
    seconds]), `write_alias` (write the declaration name into `alias`, default true),
    `regulated_pending` (list `active: false` numbers as pending, default true),
    `unbind_app_id` (what unbinding sends as `app_id`, default "": UNCONFIRMED upstream).
    """

    type_name: ClassVar[str] = "plivo"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=False,
        ownership_tag=True,
        apps=True,
        purchase_modes=(SPECIFIC,),
        purchase_concurrency=PURCHASE_THREADS,
        pending_orders=True,
        list_page_size=PAGE_SIZE,
        bind_batch_size=1,
        release_batch_size=1,
        mutation_concurrency=MUTATION_THREADS,
    )
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "auth_id": {
            "description": "the account's Auth ID (MA... or SA...). Default: $PLIVO_AUTH_ID.",
            "type": "string",
            "minLength": 1,
        },
        "auth_token": {
            "description": "the Auth Token. Write ${PLIVO_AUTH_TOKEN}, never the token itself. Default: $PLIVO_AUTH_TOKEN.",
            "type": "string",
            "minLength": 1,
        },
        "timeout": TIMEOUT_SETTING,
        "max_retries": MAX_RETRIES_SETTING,
        "rate_limit": {
            "description": "client-side limit as [requests, per seconds] (default [300, 5], Plivo's documented limit).",
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "minItems": 2,
            "maxItems": 2,
        },
        "write_alias": {
            "description": "write the declaration name into each number's alias so ownership survives a lost state (default true).",
            "type": "boolean",
        },
        "regulated_pending": {
            "description": "count a listed number with active: false as pending (default true).",
            "type": "boolean",
        },
        "unbind_app_id": {
            "description": 'the app_id value that unbinds a number (default ""; unconfirmed upstream).',
            "type": "string",
        },
    }
    #: `base_url` is not listed: every HTTP provider takes it (`registry.HTTP_SETTINGS_SCHEMA`)
    settings_keys: ClassVar[tuple[str, ...]] = tuple(settings_schema)

    def __init__(
        self,
        config: ProviderConfig,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(config)
        settings = config.settings
        auth_id = str(settings.get("auth_id") or os.environ.get(ENV_AUTH_ID) or "")
        auth_token = str(settings.get("auth_token") or os.environ.get(ENV_AUTH_TOKEN) or "")
        require_credentials(
            self.name,
            (("auth_id", ENV_AUTH_ID, auth_id), ("auth_token", ENV_AUTH_TOKEN, auth_token)),
            f"export {ENV_AUTH_ID} and {ENV_AUTH_TOKEN}",
        )
        self.auth_id = auth_id
        self._apps_checked: set[str] = set()
        self.write_alias = bool(settings.get("write_alias", True))
        if not self.write_alias:
            # Without the alias there is no ownership tag: the planner must not plan alias writes.
            self.capabilities = replace(type(self).capabilities, ownership_tag=False)
        self.regulated_pending = bool(settings.get("regulated_pending", True))
        self.unbind_app_id = str(settings.get("unbind_app_id", ""))
        rate = settings.get("rate_limit", RATE_LIMIT)
        self.http = client_for(
            config,
            str(settings.get("base_url") or DEFAULT_BASE_URL),
            auth=(auth_id, auth_token),
            secrets=[auth_token],
            error_text=plivo_error_text,
            transport=transport,
            sleep=sleep,
            clock=clock,
            rate_limit=(int(rate[0]), float(rate[1])) if rate else None,
        )

    def _path(self, resource: str) -> str:
        return f"/v1/Account/{self.auth_id}/{resource}"

    def _get(self, resource: str, operation: str, params: Mapping[str, Any] | None = None):
        body = self.http.get_json(self._path(resource), operation=operation, params=params)
        if not isinstance(body, dict):
            raise ProviderError(self.name, operation, "the response was not a JSON object")
        return body

    def close(self) -> None:
        self.http.close()

    # ================================================================= reads
    def _listing(
        self,
        resource: str,
        operation: str,
        key: str,
        noun: str,
        progress: Progress = no_progress,
    ) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, each `key` once, through the shared offset pager
        (concurrent after the first page; `meta.next` on the last page reads on). Raises
        `IncompleteListingError` at the end when fewer distinct objects arrived than the
        first page's `total_count`."""
        return offset_pages(
            lambda params: self._get(resource, operation, params),
            items=_objects,
            total=_first_total(),
            page_size=PAGE_SIZE,
            page_size_of=lambda body: _meta(body).get("limit"),
            has_more=_has_next,
            key=lambda record: record.get(key),
            workers=LIST_THREADS,
            progress=progress,
            provider=self.name,
            operation=operation,
            noun=noun,
        )

    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        records = self._listing("Number/", "list owned numbers", "number", "numbers", progress)
        owned = [o for o in map(self._owned_number, records) if o is not None]
        return tuple(sorted(owned, key=lambda n: n.number))

    def _owned_number(self, record: Mapping[str, Any]) -> OwnedNumber | None:
        digits = str(record.get("number") or "")
        if not digits:
            return None
        status = PENDING if self.regulated_pending and record.get("active") is False else ACTIVE
        number_type = OWNED_TYPE.get(str(record.get("number_type") or ""))
        return OwnedNumber(
            number=to_e164(digits),
            provider_id=to_digits(digits),
            country=country_of(digits),
            number_type=number_type,
            region=record.get("region") or None,
            app_id=app_id_from_uri(record.get("application")),
            tag=record.get("alias") or None,
            status=status,
            monthly=_decimal(record.get("monthly_rental_rate")),
            acquired_on=str(record.get("added_on") or "") or None,
        )

    def list_apps(self) -> tuple[App, ...]:
        """Every application, duplicates included: the engine resolves names and must refuse
        an ambiguous one (Plivo does not promise unique `app_name`s)."""
        records = self._listing("Application/", "list applications", "app_id", "applications")
        apps: dict[str, App] = {}
        for record in records:
            app_id = str(record.get("app_id") or "")
            if app_id:
                apps.setdefault(app_id, App(app_id, str(record.get("app_name") or "")))
        return tuple(sorted(apps.values(), key=lambda a: (a.name, a.app_id)))

    # ----------------------------------------------------------------- search
    def _search_params(self, where: Where) -> tuple[dict[str, Any], str | None]:
        if where.number_type not in SEARCH_TYPE:
            raise ProviderError(
                self.name, "search numbers", f"unknown number type {where.number_type!r}"
            )
        plivo_type, sub_type = SEARCH_TYPE[where.number_type]
        params: dict[str, Any] = {"country_iso": where.country.upper(), "type": plivo_type}
        if where.region:
            params["region"] = where.region
        if where.prefix:  # the digits after the calling code: France's "0322" is 322
            params["pattern"] = phones.prefix_digits(where.prefix, where.country)
        if where.capabilities:
            params["services"] = ",".join(where.capabilities)
        return params, sub_type

    def _search_pages(
        self,
        params: Mapping[str, Any],
        operation: str,
        next_offset: Callable[[int, list[dict[str, Any]]], int],
    ) -> Iterator[dict[str, Any]]:
        """The search's pages, whole (the walks weigh a page at a time), from offset 0 and
        at most MAX_SEARCH_PAGES of them. Every walk starts again at 0: bought and taken
        numbers drop out of Plivo's search, so the first pages keep offering fresh ones.
        `next_offset(offset, objects)` says where the page after the one read at `offset`
        starts, so a walk can jump past runs of numbers it cannot use.

        The walk chooses its own next offset, so it goes through the token pager with the
        offset as the token: one request at a time, and the next one (with whatever counting
        a jump needs) only when the caller asks for the next page. A walk that stops early
        because it has enough leaves nothing in flight."""
        offsets: list[int] = []  # asked for so far, in order: the last is the page just read

        def fetch(page_params: dict[str, Any]) -> dict[str, Any]:
            offsets.append(page_params["offset"])
            return self._get("PhoneNumber/", operation, page_params)

        def after(body: dict[str, Any]) -> int | None:
            if not _has_next(body) or len(offsets) >= MAX_SEARCH_PAGES:
                return None
            return next_offset(offsets[-1], _objects(body))

        return token_pages(
            fetch,
            items=lambda body: [body],
            next_token=after,
            params={**params, "limit": PAGE_SIZE, "offset": 0},
            token_param="offset",
            provider=self.name,
            operation=operation,
            noun="pages",
        )

    def _skip_other_kind(
        self, params: Mapping[str, Any], sub_type: str | None, operation: str
    ) -> Callable[[int, list[dict[str, Any]]], int]:
        """The next-offset rule of a search for `sub_type`. Plivo's search cannot filter
        local from national (both are `fixed`); when a page holds only the other kind, jump
        past the prefixes of that kind (counted with one `pattern` search each, once per
        walk) instead of paging through thousands."""
        skipped: dict[str, int] = {}

        def next_offset(offset: int, listed: list[dict[str, Any]]) -> int:
            step = offset + len(listed)
            if sub_type is None or any(o.get("sub_type") == sub_type for o in listed):
                return step
            for record in listed:
                prefix = str(record.get("prefix") or "")
                if prefix and prefix not in skipped:
                    body = self._get(
                        "PhoneNumber/", operation, {**params, "pattern": prefix, "limit": 1}
                    )
                    total = _meta(body).get("total_count")
                    skipped[prefix] = total if isinstance(total, int) else 0
            return max(step, sum(skipped.values()))

        return next_offset

    @staticmethod
    def _price(record: Mapping[str, Any]) -> Price:
        return Price(
            setup=_decimal(record.get("setup_rate")) or Decimal(0),
            monthly=_decimal(record.get("monthly_rental_rate")) or Decimal(0),
        )

    def quote(self, where: Where, count: int) -> Quote:
        operation = f"search numbers for sale ({where.describe()})"
        params, sub_type = self._search_params(where)
        matching = 0
        first: dict[str, Any] | None = None
        exhausted = False
        total: int | None = None
        mixed = False
        skip = self._skip_other_kind(params, sub_type, operation)
        for body in self._search_pages(params, operation, skip):
            listed = _objects(body)
            total = _meta(body).get("total_count") if total is None else total
            wanted = [o for o in listed if sub_type is None or o.get("sub_type") == sub_type]
            mixed = mixed or len(wanted) != len(listed)
            first = first or (wanted[0] if wanted else None)
            matching += len(wanted)
            exhausted = not _has_next(body)
            if first is not None and matching >= count:
                break
        if first is None:
            raise UnknownRegionError(self.name, operation, self._nothing_for_sale(where))
        if exhausted:
            available: int | None = matching
        else:
            available = None if mixed or not isinstance(total, int) else total
        return Quote(self._price(first), available)

    def _nothing_for_sale(self, where: Where) -> str:
        """Why a search found nothing, with what is for sale in that country and type."""
        try:
            rows = self.inventory(where.country, where.number_type)
        except ProviderError:  # the hint is a courtesy: the answer stands without it
            rows = []
        hint = for_sale_hint(where, rows)
        return (
            f"no numbers for sale matching {where.describe()} (Plivo cannot tell an unknown "
            f"region from one that is sold out){f'. {hint}' if hint else ''}. Run "
            f"`numbers-iac inventory {self.name} --country {where.country.upper()}` to see "
            "what is for sale"
        )

    def _search_number(self, number: str, operation: str) -> dict[str, Any] | None:
        """The search record of one specific number, or None when it is not for sale."""
        country = country_of(number)
        if country is None:
            return None
        parsed = phonenumbers.parse(to_e164(number))
        national = phonenumbers.national_significant_number(parsed)
        params = {"country_iso": country, "pattern": national, "limit": PAGE_SIZE, "offset": 0}
        # An exact pattern matches one number: the first page decides, no walk needed.
        for record in _objects(self._get("PhoneNumber/", operation, params)):
            if str(record.get("number")) == to_digits(number):
                return record
        return None

    def quote_numbers(self, numbers: Sequence[str]) -> Quote:
        operation = "price specific numbers"
        price: Price | None = None
        setup = monthly = Decimal(0)
        for number in numbers:
            record = self._search_number(number, operation)
            if record is None:
                raise NumberUnavailableError(
                    self.name, operation, f"{to_e164(number)} is not for sale on Plivo"
                )
            one = self._price(record)
            setup, monthly = max(setup, one.setup), max(monthly, one.monthly)
            price = Price(setup, monthly)
        if price is None:
            raise ProviderError(self.name, operation, "no numbers given")
        # One Price per purchase: the dearest number prices them all, so totals never understate.
        return Quote(price, len(numbers))

    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        """Regions/prefixes for sale, with counts. Plivo's search returns numbers, not groups,
        so groups are discovered from search pages and each row's `available` is the search's
        `total_count` for that prefix (None when the prefix also holds numbers of another
        sub-type). Discovery is a bounded sample: a country with many prefixes may show only
        some of them."""
        types = [number_type] if number_type else list(SEARCH_TYPE)
        rows: list[InventoryRow] = []
        for kind in types:
            params, sub_type = self._search_params(Where(country.upper(), kind))
            operation = f"list numbers for sale ({country.upper()} {kind})"
            for record, available in self._discover_groups(params, sub_type, operation):
                rows.append(
                    InventoryRow(
                        country.upper(),
                        kind,
                        record.get("region") or None,
                        str(record.get("prefix") or "") or None,
                        available,
                        self._price(record),
                        tuple(s for s in ("voice", "sms", "mms") if record.get(f"{s}_enabled")),
                    )
                )
        return rows

    def _discover_groups(
        self, params: Mapping[str, Any], sub_type: str | None, operation: str
    ) -> list[tuple[dict[str, Any], int | None]]:
        """One sample record and a count per (region, prefix) seen in the search."""
        groups: dict[tuple[Any, Any], tuple[dict[str, Any], int | None]] = {}
        known = 0  # groups found before the page just read

        def next_offset(offset: int, listed: list[dict[str, Any]]) -> int:
            # Numbers of one prefix tend to come together: once a page shows nothing new,
            # jump past the numbers already counted.
            nonlocal known
            new, known = len(groups) > known, len(groups)
            counted = sum(count or 0 for _, count in groups.values())
            return max(offset + len(listed), 0 if new else counted)

        for body in self._search_pages(params, operation, next_offset):
            for record in _objects(body):
                key = (record.get("region") or None, record.get("prefix") or None)
                if key not in groups:
                    groups[key] = (record, self._count_prefix(params, record, sub_type, operation))
        return [
            (record, count)
            for record, count in groups.values()
            if sub_type is None or record.get("sub_type") == sub_type
        ]

    def _count_prefix(self, params, record, sub_type, operation) -> int | None:
        prefix = str(record.get("prefix") or "")
        if not prefix:
            return None
        body = self._get(
            "PhoneNumber/", operation, {**params, "pattern": prefix, "limit": PAGE_SIZE}
        )
        total = _meta(body).get("total_count")
        same_kind = all(sub_type is None or o.get("sub_type") == sub_type for o in _objects(body))
        return total if isinstance(total, int) and same_kind else None

    # ================================================================= mutations
    # ----------------------------------------------------------------- the purchase protocol
    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        """Pinned numbers as they are; otherwise candidates from the search, read from the
        first page on each call (bought and taken numbers drop out of Plivo's search, so
        the first pages keep offering fresh ones; numbers refused yet still listed are
        stepped over)."""
        self._check_app(request.app_id)
        if request.pinned or request.where is None:
            return super().offer(request, count, exclude)
        where = request.where
        params, sub_type = self._search_params(where)
        operation = f"search numbers for sale ({where.describe()})"
        candidates: list[Candidate] = []
        skip = self._skip_other_kind(params, sub_type, operation)
        for body in self._search_pages(params, operation, skip):
            for record in _objects(body):
                digits = str(record.get("number") or "")
                wrong_kind = sub_type is not None and record.get("sub_type") != sub_type
                if not digits or wrong_kind or to_e164(digits) in exclude:
                    continue
                candidates.append(Candidate(to_e164(digits), digits, self._price(record), record))
                if len(candidates) >= count:
                    return Offer(request, SPECIFIC, len(candidates), tuple(candidates))
        return Offer(request, SPECIFIC, len(candidates), tuple(candidates))

    def _check_app(self, app_id: str | None) -> None:
        """A buy naming a missing app is refused like a taken number would be: check the
        app once instead of burning through every candidate."""
        if not app_id or app_id in self._apps_checked:
            return
        try:
            self._get(f"Application/{app_id}/", f"check application {app_id}")
        except NotFoundError:
            raise UnknownAppError(
                self.name, "purchase", f"application {app_id} does not exist on the account", 404
            ) from None
        self._apps_checked.add(app_id)

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """Buy one number: `POST PhoneNumber/{number}/`. Plivo has no idempotency key, so a
        lost answer is never resent: the number is read back, and if it is not on the
        account (yet) the outcome is unknown and the core keeps the attempt open. Only a
        4xx is a clear "not bought"; any 2xx is a purchase, whatever its body says."""
        (candidate,) = offer.candidates
        digits = to_digits(candidate.number)
        app_id = offer.request.app_id
        operation = f"buy {to_e164(digits)}"
        try:
            response = self.http.request(
                "POST",
                self._path(f"PhoneNumber/{digits}/"),
                operation=operation,
                json={"app_id": app_id} if app_id else {},
                retry=False,
            )
        except TransientError as exc:
            if not exc.maybe_sent:
                raise
            return self._read_back_or_unknown(digits, operation, exc)
        except (AuthError, RateLimitedError):
            raise
        except ProviderError as exc:
            if exc.status in UNAVAILABLE_STATUSES:
                raise NumberUnavailableError(self.name, operation, exc.detail, exc.status) from None
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 499):
                raise
            return self._read_back_or_unknown(digits, operation, exc)
        if not 200 <= response.status_code < 300:  # a redirect is not a purchase
            odd = ProviderError(self.name, operation, f"unexpected HTTP {response.status_code}")
            return self._read_back_or_unknown(digits, operation, odd)
        return (self._bought(digits, app_id, _bought_status(response, digits), candidate.record),)

    def _read_back_or_unknown(
        self, digits: str, operation: str, exc: ProviderError
    ) -> tuple[OwnedNumber, ...]:
        """After an answer that may hide a purchase: the number if Plivo shows it, else an
        unknown outcome for the core to hold open."""
        found = self._read_back(digits)
        if found is None:
            raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
        return (found,)

    def _read_back(self, digits: str) -> OwnedNumber | None:
        """The number as the account holds it (pending included), or None when Plivo does
        not show it or cannot be asked: only a sighting is conclusive."""
        try:
            return self._look_up(digits)
        except ProviderError:
            return None

    def _look_up(self, digits: str) -> OwnedNumber | None:
        """The number as the account holds it, None on a 404; raises when Plivo cannot be
        asked (then nobody knows)."""
        try:
            record = self._get(f"Number/{digits}/", f"check whether {to_e164(digits)} was bought")
        except NotFoundError:
            return None
        return self._owned_number(record)

    def recover(self, attempts: Sequence[Attempt], account: Account) -> list[Recovery]:
        """The listing first; a number still missing from it is read back by itself,
        because Plivo lists a number awaiting regulatory approval nowhere else."""
        recoveries = []
        for recovery in super().recover(attempts, account):
            seen = {n.number for n in recovery.produced}
            found: list[OwnedNumber] = []
            uncertain = False
            for number in (n for n in recovery.attempt.numbers if n not in seen):
                try:
                    owned = self._look_up(to_digits(number))
                except ProviderError:
                    uncertain = True  # a 5xx or timeout is not "absent"
                    continue
                if owned is not None:
                    found.append(owned)
            produced = recovery.produced + tuple(found)
            settled = bool(recovery.attempt.numbers) and len(produced) == len(
                recovery.attempt.numbers
            )
            recoveries.append(
                replace(recovery, produced=produced, settled=settled, uncertain=uncertain)
            )
        return recoveries

    def _bought(
        self, digits: str, app_id: str | None, status: str, found: Mapping[str, Any]
    ) -> OwnedNumber:
        """The bought number, described from its search record when there is one."""
        kind = found.get("sub_type") if found.get("type") == "fixed" else found.get("type")
        return OwnedNumber(
            number=to_e164(digits),
            provider_id=digits,
            country=country_of(digits),
            number_type=OWNED_TYPE.get(str(kind or "")),
            region=found.get("region") or None,
            app_id=app_id,
            status=status,
            monthly=_decimal(found.get("monthly_rental_rate")),
        )

    def _update_number(self, number: OwnedNumber, body: dict[str, Any], operation: str) -> None:
        # Setting fields to given values is idempotent, so retrying it is safe.
        self.http.request(
            "POST",
            self._path(f"Number/{number.provider_id or to_digits(number.number)}/"),
            operation=operation,
            json=body,
            retry=True,
        )

    def _for_each(
        self, numbers: Sequence[OwnedNumber], act: Callable[[OwnedNumber], None]
    ) -> BatchOutcome:
        """Run `act` per number (Plivo has no batch calls); collect per-number failures.
        The executor hands binds and releases over one at a time, `mutation_concurrency` at
        once; a caller handing over many (the tags of a wave of purchases, an import) gets
        the same concurrency here, within the shared rate limit, instead of one call after
        another."""

        def attempt(number: OwnedNumber) -> tuple[str, str | None]:
            try:
                act(number)
            except ProviderError as exc:
                return number.number, str(exc)
            return number.number, None

        results = map_concurrently(attempt, numbers, workers=MUTATION_THREADS)
        return BatchOutcome(
            done=tuple(n for n, err in results if err is None),
            failed={n: err for n, err in results if err is not None},
        )

    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        target = app_id if app_id is not None else self.unbind_app_id

        def bind_one(number: OwnedNumber) -> None:
            verb = f"bind {number.number} to app {app_id}" if app_id else f"unbind {number.number}"
            self._update_number(number, {"app_id": target}, verb)

        return self._for_each(numbers, bind_one)

    def set_labels(
        self, changes: Sequence[tuple[OwnedNumber, str | None, Mapping[str, str]]]
    ) -> BatchOutcome:
        """Write the ownership tag into `alias`. Labels live in the state store."""
        if not self.write_alias:
            return BatchOutcome(done=tuple(n.number for n, _, _ in changes))
        tags = {n.number: tag for n, tag, _ in changes}

        def write(number: OwnedNumber) -> None:
            body = {
                "app_id": number.app_id if number.app_id is not None else self.unbind_app_id,
                "alias": tags[number.number] or "",
            }
            self._update_number(number, body, f"set the alias of {number.number}")

        return self._for_each([n for n, _, _ in changes], write)

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        def release_one(number: OwnedNumber) -> None:
            digits = number.provider_id or to_digits(number.number)
            try:
                # DELETE is safe to retry: a second one answers 404, which means done.
                self.http.request(
                    "DELETE",
                    self._path(f"Number/{digits}/"),
                    operation=f"release {number.number}",
                    retry=True,
                )
            except NotFoundError:
                return

        return self._for_each(numbers, release_one)
