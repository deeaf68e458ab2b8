"""Plivo adapter: the Provider contract over Plivo's REST API (see shared/providers/plivo.md).

Wire facts this module leans on: paths `/v1/Account/{auth_id}/...` ending in `/`, Basic auth,
JSON bodies, numbers as digits without `+`, offset pagination capped at 20, no idempotency
keys (so a purchase is never retried blindly: the number is re-read instead).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx
import phonenumbers

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
    no_progress,
)
from numbers_iac.providers.http import HttpClient

DEFAULT_BASE_URL = "https://api.plivo.com"
ENV_AUTH_ID = "PLIVO_AUTH_ID"
ENV_AUTH_TOKEN = "PLIVO_AUTH_TOKEN"
PAGE_SIZE = 20
#: documented default: 300 non-call API requests per 5 seconds per account
RATE_LIMIT = (300, 5.0)
#: reads survive this many 429/5xx in a row (the HTTP layer's deadline still bounds the wait)
DEFAULT_MAX_RETRIES = 8
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
#: Plivo's `number_type` on owned numbers -> ours (`fixed` carries no sub_type there)
OWNED_TYPE = {
    "fixed": "local",
    "local": "local",
    "national": "national",
    "mobile": "mobile",
    "tollfree": "tollfree",
}
#: a buy refused with one of these means "this number, not the request, is the problem"
UNAVAILABLE_STATUSES = frozenset({400, 404, 409, 410, 422})


def plivo_error_text(response: httpx.Response) -> str | None:
    """Plivo's own error text: `error` (sometimes `message`) of the JSON body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or None
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
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(to_e164(number)))
    except phonenumbers.NumberParseException:
        return None


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
        "timeout": {
            "description": "seconds to wait for one HTTP response (default 30).",
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 600,
        },
        "max_retries": {
            "description": "retries of a failed read on 429/5xx/timeouts (default 8).",
            "type": "integer",
            "minimum": 0,
            "maximum": 50,
        },
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
        if not auth_id or not auth_token:
            missing = [
                f"{key} (or ${env})"
                for key, env, value in (
                    ("auth_id", ENV_AUTH_ID, auth_id),
                    ("auth_token", ENV_AUTH_TOKEN, auth_token),
                )
                if not value
            ]
            raise ProviderError(
                self.name,
                "read credentials",
                f"missing {' and '.join(missing)}: set them in the provider's settings or "
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
        extra: dict[str, Any] = {}
        if sleep is not None:
            extra["sleep"] = sleep
        if clock is not None:
            extra["clock"] = clock
        self.http = HttpClient(
            self.name,
            str(settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/"),
            auth=(auth_id, auth_token),
            timeout=float(settings.get("timeout", 30.0)),
            max_retries=int(settings.get("max_retries", DEFAULT_MAX_RETRIES)),
            rate_limit=(int(rate[0]), float(rate[1])) if rate else None,
            transport=transport,
            secrets=[auth_token],
            error_text=plivo_error_text,
            **extra,
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
    def _walk(
        self,
        resource: str,
        operation: str,
        params: Mapping[str, Any] | None = None,
        progress: Progress = no_progress,
    ) -> list[dict[str, Any]]:
        """Every object of a list endpoint. After the first page, the remaining offsets are
        known, so they are fetched concurrently (the rate limiter keeps the pace legal).
        Pages are followed further if the provider's `next` says there is more."""
        base = dict(params or {})
        first = self._get(resource, operation, {**base, "limit": PAGE_SIZE, "offset": 0})
        meta = first.get("meta") or {}
        total = meta.get("total_count")
        step = int(meta.get("limit") or PAGE_SIZE)
        pages = [first]
        progress(len(first.get("objects") or []), total)
        if isinstance(total, int) and meta.get("next") and step > 0:
            offsets = list(range(step, total, step))

            def fetch(offset: int) -> dict[str, Any]:
                return self._get(resource, operation, {**base, "limit": step, "offset": offset})

            done = len(first.get("objects") or [])
            with ThreadPoolExecutor(max_workers=LIST_THREADS) as pool:
                for page in pool.map(fetch, offsets):
                    pages.append(page)
                    done += len(page.get("objects") or [])
                    progress(done, total)
        # A provider whose total understated the list still says `next` on its last page.
        last = pages[-1]
        offset = int((last.get("meta") or {}).get("offset") or 0)
        guard = 0
        while (last.get("meta") or {}).get("next") and last.get("objects") and guard < 1000:
            offset += step
            last = self._get(resource, operation, {**base, "limit": step, "offset": offset})
            pages.append(last)
            guard += 1
        return [obj for page in pages for obj in page.get("objects") or []]

    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        operation = "list owned numbers"
        first_total: list[int | None] = []

        def track(done: int, total: int | None) -> None:
            if not first_total:
                first_total.append(total)
            progress(done, total)

        records = self._walk("Number/", operation, progress=track)
        by_number: dict[str, OwnedNumber] = {}
        for record in records:
            owned = self._owned_number(record)
            if owned is not None:
                by_number.setdefault(owned.number, owned)
        total = first_total[0] if first_total else None
        if isinstance(total, int) and len(by_number) < total:
            raise ProviderError(
                self.name,
                operation,
                f"the listing is incomplete: Plivo reported {total} numbers but "
                f"{len(by_number)} distinct numbers arrived; numbers may have changed during "
                "the listing, run the command again",
            )
        return tuple(sorted(by_number.values(), key=lambda n: n.number))

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
        records = self._walk("Application/", "list applications")
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
        if where.prefix:
            params["pattern"] = where.prefix
        if where.capabilities:
            params["services"] = ",".join(where.capabilities)
        return params, sub_type

    def _search_pages(
        self, params: Mapping[str, Any], operation: str, start: int = 0
    ) -> Iterator[tuple[list[dict[str, Any]], int | None, bool]]:
        """Yield (objects, total_count, has_next) page by page from `start`."""
        offset = start
        for _ in range(MAX_SEARCH_PAGES):
            body = self._get(
                "PhoneNumber/", operation, {**params, "limit": PAGE_SIZE, "offset": offset}
            )
            objects = body.get("objects") or []
            meta = body.get("meta") or {}
            total = meta.get("total_count")
            has_next = bool(meta.get("next")) and bool(objects)
            yield objects, total, has_next
            if not has_next:
                return
            offset += len(objects)

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
        offset = 0
        skipped: dict[str, int] = {}
        for _ in range(MAX_SEARCH_PAGES):
            body = self._search_page(params, offset, operation)
            listed = body.get("objects") or []
            meta = body.get("meta") or {}
            total = meta.get("total_count") if total is None else total
            wanted = [o for o in listed if sub_type is None or o.get("sub_type") == sub_type]
            mixed = mixed or len(wanted) != len(listed)
            first = first or (wanted[0] if wanted else None)
            matching += len(wanted)
            if not meta.get("next") or not listed:
                exhausted = True
                break
            if first is not None and matching >= count:
                break
            offset = self._next_offset(params, offset, listed, sub_type, skipped, operation)
        if first is None:
            raise UnknownRegionError(
                self.name,
                operation,
                f"no numbers for sale matching {where.describe()} (Plivo cannot tell an unknown "
                "region from one that is sold out)",
            )
        if exhausted:
            available: int | None = matching
        else:
            available = None if mixed or not isinstance(total, int) else total
        return Quote(self._price(first), available)

    def _search_page(self, params: Mapping[str, Any], offset: int, operation: str) -> dict:
        return self._get(
            "PhoneNumber/", operation, {**params, "limit": PAGE_SIZE, "offset": offset}
        )

    def _next_offset(
        self,
        params: Mapping[str, Any],
        offset: int,
        listed: list[dict[str, Any]],
        sub_type: str | None,
        skipped: dict[str, int],
        operation: str,
    ) -> int:
        """Where to read next. Plivo's search cannot filter local from national (both are
        `fixed`); when a page holds only the other kind, jump past the prefixes of that kind
        (counted with one `pattern` search each) instead of paging through thousands."""
        step = offset + len(listed)
        if sub_type is None or any(o.get("sub_type") == sub_type for o in listed):
            return step
        for record in listed:
            prefix = str(record.get("prefix") or "")
            if prefix and prefix not in skipped:
                body = self._get(
                    "PhoneNumber/", operation, {**params, "pattern": prefix, "limit": 1}
                )
                total = (body.get("meta") or {}).get("total_count")
                skipped[prefix] = total if isinstance(total, int) else 0
        return max(step, sum(skipped.values()))

    def _search_number(self, number: str, operation: str) -> dict[str, Any] | None:
        """The search record of one specific number, or None when it is not for sale."""
        country = country_of(number)
        if country is None:
            return None
        parsed = phonenumbers.parse(to_e164(number))
        national = phonenumbers.national_significant_number(parsed)
        params = {"country_iso": country, "pattern": national}
        for objects, _, _ in self._search_pages(params, operation):
            for record in objects:
                if str(record.get("number")) == to_digits(number):
                    return record
            break  # an exact pattern matches one number: the first page decides
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
        """One sample record and a count per (region, prefix) seen in the search. Numbers of
        one prefix tend to come together, so once a page shows nothing new the walk jumps
        past the numbers already counted."""
        groups: dict[tuple[Any, Any], tuple[dict[str, Any], int | None]] = {}
        offset = 0
        for _ in range(MAX_SEARCH_PAGES):
            body = self._get(
                "PhoneNumber/", operation, {**params, "limit": PAGE_SIZE, "offset": offset}
            )
            listed = body.get("objects") or []
            new = False
            for record in listed:
                key = (record.get("region") or None, record.get("prefix") or None)
                if key in groups:
                    continue
                new = True
                groups[key] = (record, self._count_prefix(params, record, sub_type, operation))
            if not listed or not (body.get("meta") or {}).get("next"):
                break
            counted = sum(count or 0 for _, count in groups.values())
            offset = max(offset + len(listed), counted if not new else 0)
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
        total = (body.get("meta") or {}).get("total_count")
        same_kind = all(
            sub_type is None or o.get("sub_type") == sub_type for o in body.get("objects") or []
        )
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
        offset = 0
        skipped: dict[str, int] = {}
        for _ in range(MAX_SEARCH_PAGES):
            body = self._search_page(params, offset, operation)
            listed = body.get("objects") or []
            for record in listed:
                digits = str(record.get("number") or "")
                wrong_kind = sub_type is not None and record.get("sub_type") != sub_type
                if not digits or wrong_kind or to_e164(digits) in exclude:
                    continue
                candidates.append(Candidate(to_e164(digits), digits, self._price(record), record))
                if len(candidates) >= count:
                    return Offer(request, SPECIFIC, len(candidates), tuple(candidates))
            if not listed or not (body.get("meta") or {}).get("next"):
                break
            offset = self._next_offset(params, offset, listed, sub_type, skipped, operation)
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
        account (yet) the outcome is unknown and the core keeps the attempt open."""
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
            if not getattr(exc, "maybe_sent", True):
                raise
            found = self._read_back(digits)
            if found is not None:
                return (found,)
            raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
        except (AuthError, RateLimitedError):
            raise
        except ProviderError as exc:
            if exc.status in UNAVAILABLE_STATUSES:
                raise NumberUnavailableError(self.name, operation, exc.detail, exc.status) from None
            raise
        payload = self.http.json_of(response, operation) or {}
        status = ACTIVE
        for item in payload.get("numbers") or []:
            if str(item.get("number")) == digits and str(item.get("status")).lower() == "pending":
                status = PENDING
        if not payload.get("numbers") and str(payload.get("status")).lower() == "pending":
            status = PENDING
        return (self._bought(digits, app_id, status, candidate.record),)

    def _read_back(self, digits: str) -> OwnedNumber | None:
        """The number as the account holds it (pending included), or None when Plivo does
        not show it or cannot be asked: only a sighting is conclusive."""
        try:
            record = self._get(f"Number/{digits}/", f"check whether {to_e164(digits)} was bought")
        except ProviderError:
            return None
        return self._owned_number(record)

    def recover(self, attempts: Sequence[Attempt], account: Account) -> list[Recovery]:
        """The listing first; a number still missing from it is read back by itself,
        because Plivo lists a number awaiting regulatory approval nowhere else."""
        recoveries = []
        for recovery in super().recover(attempts, account):
            seen = {n.number for n in recovery.produced}
            missing = [n for n in recovery.attempt.numbers if n not in seen]
            found = [o for o in (self._read_back(to_digits(n)) for n in missing) if o]
            produced = recovery.produced + tuple(found)
            settled = bool(recovery.attempt.numbers) and len(produced) == len(
                recovery.attempt.numbers
            )
            recoveries.append(replace(recovery, produced=produced, settled=settled))
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
        """Run `act` per number (Plivo has no batch calls; the executor runs several calls
        at once up to `mutation_concurrency`); collect per-number failures."""

        def attempt(number: OwnedNumber) -> tuple[str, str | None]:
            try:
                act(number)
            except ProviderError as exc:
                return number.number, str(exc)
            return number.number, None

        results = [attempt(n) for n in numbers]
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
