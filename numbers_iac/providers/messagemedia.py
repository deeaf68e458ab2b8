"""MessageMedia adapter: the Provider contract over the Dedicated Numbers API (see
shared/providers/messagemedia.md and shared/seeds/messagemedia-dedicated-numbers.txt).

Wire facts this module leans on: paths under `/v1/messaging/numbers/dedicated`, JSON bodies,
Basic or HMAC authentication, token paging (`pagination.next_token`, `page_size` up to 100),
errors as `{"message", "details"}`. A number is bought by assigning it to the account
(`POST .../{numberId}/assignment`), which carries its `label` (here: the declaration name,
so ownership survives a lost state) and `metadata` (here: the YAML labels) in the same call.
There is no idempotency key and a repeated assignment answers 409 like a number taken by
someone else, so a lost answer is never resent: the assigned list is read instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import phonenumbers

from numbers_iac import phones
from numbers_iac.errors import (
    AuthError,
    DeclarationOptionError,
    NotFoundError,
    NumberUnavailableError,
    OutcomeUnknownError,
    Problem,
    ProviderError,
    RateLimitedError,
    TransientError,
    UnknownRegionError,
)
from numbers_iac.model import (
    ACTIVE,
    PENDING,
    SPECIFIC,
    Declaration,
    OwnedNumber,
    ProviderConfig,
    Where,
)
from numbers_iac.providers.auth import BasicAuth, HmacAuth
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
    fits_prefix,
    no_progress,
)
from numbers_iac.providers.http import (
    MAX_RETRIES_SETTING,
    TIMEOUT_SETTING,
    client_for,
    require_credentials,
)
from numbers_iac.providers.paging import token_pages

#: region -> API root. APAC is MessageMedia's documented host; EU is Sinch's.
BASE_URLS = {"apac": "https://api.messagemedia.com", "eu": "https://eu.app.api.sinch.com"}
ENV_API_KEY = "MESSAGEMEDIA_API_KEY"
ENV_API_SECRET = "MESSAGEMEDIA_API_SECRET"
PREFIX = "/v1/messaging/numbers/dedicated"
#: the largest page both listings allow
PAGE_SIZE = 100
#: search pages one offer, quote or inventory may read before giving up
MAX_SEARCH_PAGES = 20
#: assignments sent at once: each number is its own POST
PURCHASE_THREADS = 4
MUTATION_THREADS = 4
#: limits on an assignment (server code's validators)
MAX_LABEL = 100
MAX_METADATA = 5
MAX_KEY = 100
MAX_VALUE = 256
#: how long MessageMedia holds a released number for its last owner (server code's config)
GRACE_DAYS = 45

#: our number type -> MessageMedia `type`
TYPES = {"local": "LANDLINE", "mobile": "MOBILE", "tollfree": "TOLL_FREE"}
#: MessageMedia `type` -> ours (short codes and the 10DLC kinds have no counterpart)
OWNED_TYPES = {"LANDLINE": "local", "MOBILE": "mobile", "TOLL_FREE": "tollfree"}
#: our capability -> MessageMedia service type (voice is text-to-speech there)
SERVICE_TYPES = {"sms": "SMS", "mms": "MMS", "voice": "TTS"}
CAPABILITY_OF = {"SMS": "sms", "MMS": "mms", "TTS": "voice", "CALL": "voice"}
#: number statuses that mean "assigned, not ready yet" (US toll-free verification)
WAITING = frozenset({"UNVERIFIED", "PENDING"})
CLASSES = ("bronze", "silver", "gold")
#: HMAC variants: the SDKs' (SHA-1, body hash in x-Content-MD5) and the reference's text
#: `hmac_algorithm` -> (digest, body-hash header, date header): `hmac-sha1` signs as
#: MessageMedia's SDKs do (`date`, `x-Content-MD5`), `hmac-sha256` as its reference text
HMAC_VARIANTS = {
    "hmac-sha1": ("sha1", "x-Content-MD5", "date"),
    "hmac-sha256": ("sha256", "Content-MD5", "Date"),
}


def messagemedia_error_text(response: httpx.Response) -> str | None:
    """`message` of MessageMedia's error body, with its `details` when it has some."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or None
    if not isinstance(body, dict):
        return None
    text = str(body.get("message") or body.get("error") or "")
    details = body.get("details")
    if isinstance(details, list) and details:
        text += " (" + "; ".join(str(d) for d in details) + ")"
    return text or None


def to_e164(phone: str) -> str:
    """MessageMedia writes numbers with and without "+": always "+digits" here."""
    return "+" + str(phone).strip().lstrip("+")


def country_of(number: str) -> str | None:
    """The number's country, from its calling code (once per owned number: `phones` answers
    canonical numbers without a full parse)."""
    return phones.country_of(to_e164(number))


def _data(body: Any) -> list[dict[str, Any]]:
    items = body.get("data") if isinstance(body, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _next_token(body: Any) -> Any:
    paging = body.get("pagination") if isinstance(body, dict) else None
    return paging.get("next_token") if isinstance(paging, dict) else None


def _digits(text: str) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


class MessageMediaProvider(Provider):
    """A MessageMedia (Sinch MessageMedia) account. Settings: `api_key`, `api_secret`
    (default: $MESSAGEMEDIA_API_KEY / $MESSAGEMEDIA_API_SECRET), `region` (apac or eu: the
    API root), `auth` (basic or hmac), `hmac_algorithm`, `base_url`, `timeout`,
    `max_retries`, `page_size`. Declaration options: `class` (bronze, silver, gold) and `pattern`
    (digits the number must contain)."""

    type_name: ClassVar[str] = "messagemedia"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=True,
        ownership_tag=True,
        apps=False,
        purchase_modes=(SPECIFIC,),
        purchase_concurrency=PURCHASE_THREADS,
        pending_orders=True,
        region_filter=False,
        prefix_filter=True,
        number_types=tuple(TYPES),
        list_page_size=PAGE_SIZE,
        release_batch_size=1,
        mutation_concurrency=MUTATION_THREADS,
        max_labels=MAX_METADATA,
        prices_known=False,
    )
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "api_key": {
            "description": "the REST API key. Default: $MESSAGEMEDIA_API_KEY.",
            "type": "string",
            "minLength": 1,
        },
        "api_secret": {
            "description": "the REST API secret. Write ${MESSAGEMEDIA_API_SECRET}, never the secret itself. Default: $MESSAGEMEDIA_API_SECRET.",
            "type": "string",
            "minLength": 1,
        },
        "region": {
            "description": "where the account lives: apac (https://api.messagemedia.com, the default) or eu (https://eu.app.api.sinch.com). base_url overrides it.",
            "enum": list(BASE_URLS),
        },
        "auth": {
            "description": "basic (the default: key and secret on every request) or hmac (each request signed with the secret, which never travels).",
            "enum": ["basic", "hmac"],
        },
        "hmac_algorithm": {
            "description": "with auth: hmac, hmac-sha1 (the default: what MessageMedia's SDKs send, body hash in x-Content-MD5) or hmac-sha256 (as the API reference's text describes it, body hash in Content-MD5).",
            "enum": list(HMAC_VARIANTS),
        },
        "timeout": TIMEOUT_SETTING,
        "max_retries": MAX_RETRIES_SETTING,
        "page_size": {
            "description": "numbers per page of a listing or search (default and most 100: the fewest requests).",
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_SIZE,
        },
    }
    settings_keys: ClassVar[tuple[str, ...]] = tuple(settings_schema)
    declaration_options: ClassVar[tuple[str, ...]] = ("class", "pattern")

    def __init__(
        self,
        config: ProviderConfig,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(config)
        settings = config.settings
        api_key = str(settings.get("api_key") or os.environ.get(ENV_API_KEY) or "")
        api_secret = str(settings.get("api_secret") or os.environ.get(ENV_API_SECRET) or "")
        require_credentials(
            self.name,
            (("api_key", ENV_API_KEY, api_key), ("api_secret", ENV_API_SECRET, api_secret)),
            f"export {ENV_API_KEY} and {ENV_API_SECRET}",
        )
        auth: tuple[str, str] | httpx.Auth = BasicAuth(api_key, api_secret)
        if settings.get("auth") == "hmac":
            digest, md5_header, date_header = HMAC_VARIANTS[
                settings.get("hmac_algorithm", "hmac-sha1")
            ]
            auth = HmacAuth(
                api_key,
                api_secret,
                digest=digest,
                md5_header=md5_header,
                date_header=date_header,
            )
        base_url = settings.get("base_url") or BASE_URLS[settings.get("region", "apac")]
        self.page_size = int(settings.get("page_size", PAGE_SIZE))
        self.http = client_for(
            config,
            str(base_url),
            auth=auth,
            secrets=[api_secret],
            error_text=messagemedia_error_text,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    def close(self) -> None:
        self.http.close()

    @classmethod
    def validate_declaration(cls, declaration: Declaration) -> list[Problem]:
        """What MessageMedia's assignment limits and search options refuse: the declaration
        name becomes the `label` (at most 100 characters), labels the `metadata` (keys up to
        100 characters, values up to 256; at most 5 pairs is checked by the loader), `class`
        is a classification and `pattern` digits."""
        problems: list[Problem] = []

        def problem(field: str, message: str) -> None:
            source = declaration.located(field)
            problems.append(
                Problem(
                    source.file if source else "<config>",
                    source.line if source else None,
                    source.column if source else None,
                    f"numbers.{declaration.name}" + (f".{field}" if field else ""),
                    message,
                )
            )

        name = declaration.name
        if len(name) > MAX_LABEL:
            problem(
                "",
                f"the name is {len(name)} characters: MessageMedia keeps it as the number's "
                f"label, at most {MAX_LABEL}",
            )
        for key, value in declaration.labels.items():
            if not key.strip():
                problem("labels", "a label name cannot be blank (MessageMedia metadata key)")
            elif len(key) > MAX_KEY:
                problem(
                    "labels",
                    f"label name '{key[:20]}…' is {len(key)} characters: MessageMedia "
                    f"metadata keys hold at most {MAX_KEY}",
                )
            if len(str(value)) > MAX_VALUE:
                problem(
                    "labels",
                    f"the value of label '{key[:40]}' is {len(str(value))} characters: "
                    f"MessageMedia metadata values hold at most {MAX_VALUE}",
                )
        options = declaration.options
        if "class" in options and str(options["class"]).lower() not in CLASSES:
            problem("class", f"class must be one of {', '.join(CLASSES)}")
        if "pattern" in options:
            pattern = options["pattern"]
            if isinstance(pattern, int) and not isinstance(pattern, bool):
                # YAML reads 0400 as the number 256: the digits are not what was written
                problem("pattern", 'write pattern in quotes (like pattern: "0400")')
            elif not isinstance(pattern, str) or not re.fullmatch(r"\+?[0-9]{1,15}", pattern):
                problem("pattern", 'pattern must be digits the number contains (like "0400")')
        return problems

    def release_warnings(self) -> tuple[str, ...]:
        return (
            f"{self.name}: MessageMedia holds a released number for this account for about "
            f"{GRACE_DAYS} days (hidden from everyone else's search); assigning it again in "
            "that time takes it back, but its label and metadata are gone",
        )

    # ================================================================= reads
    def _get(self, path: str, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        body = self.http.get_json(PREFIX + path, operation=operation, params=params)
        if not isinstance(body, dict):
            raise ProviderError(self.name, operation, "the response was not a JSON object")
        return body

    def _assigned(
        self, operation: str, params: Mapping[str, Any] | None = None, progress=no_progress
    ) -> Iterator[dict[str, Any]]:
        """Every item of the assigned-numbers list (token paging, pages of 100), each
        number id once."""
        return token_pages(
            lambda page: self._get("/assignments", operation, page),
            items=_data,
            next_token=_next_token,
            params={"page_size": self.page_size, **(params or {})},
            key=lambda item: (item.get("number") or {}).get("id"),
            progress=progress,
            provider=self.name,
            operation=operation,
            noun="numbers",
        )

    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        items = self._assigned("list assigned numbers", progress=progress)
        owned = [o for o in map(self._owned_number, items) if o is not None]
        return tuple(sorted(owned, key=lambda n: n.number))

    def _owned_number(self, item: Mapping[str, Any]) -> OwnedNumber | None:
        number = item.get("number") if isinstance(item.get("number"), dict) else {}
        assignment = item.get("assignment") if isinstance(item.get("assignment"), dict) else {}
        if not number.get("phone_number") or not number.get("id"):
            return None
        return self._described(number, assignment)

    def _described(
        self,
        number: Mapping[str, Any],
        assignment: Mapping[str, Any],
        status: str | None = None,
    ) -> OwnedNumber:
        e164 = to_e164(number["phone_number"])
        metadata = assignment.get("metadata")
        waiting = str(number.get("status") or "").upper() in WAITING
        return OwnedNumber(
            number=e164,
            provider_id=str(number["id"]),
            country=str(number.get("country") or "").upper() or country_of(e164),
            number_type=OWNED_TYPES.get(str(number.get("type") or "")),
            tag=str(assignment.get("label") or "") or None,
            labels=(
                {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
            ),
            status=status or (PENDING if waiting else ACTIVE),
        )

    # ----------------------------------------------------------------- search
    def _search_params(self, where: Where, options: Mapping[str, Any]) -> dict[str, Any]:
        operation = f"search numbers for sale ({where.describe()})"
        if where.region:
            raise UnknownRegionError(
                self.name,
                operation,
                f"MessageMedia cannot search by region ({where.region}): use prefix or pattern",
            )
        if where.number_type not in TYPES:
            raise UnknownRegionError(
                self.name,
                operation,
                f"MessageMedia does not sell {where.number_type} numbers "
                f"(it sells: {', '.join(TYPES)})",
            )
        params: dict[str, Any] = {
            "country": where.country.upper(),
            "types": TYPES[where.number_type],
            "page_size": self.page_size,
        }
        services = [SERVICE_TYPES[c] for c in where.capabilities if c in SERVICE_TYPES]
        if services:
            params["service_types"] = services
        if options.get("class"):
            params["classification"] = str(options["class"]).upper()
        matching = self._matching(where, options)
        if matching:
            params["matching"] = matching
        return params

    @staticmethod
    def _matching(where: Where, options: Mapping[str, Any]) -> str | None:
        """`matching`: the declaration's `pattern`, else the country code and `prefix`
        (digits the number contains; the prefix is also checked on each result)."""
        if options.get("pattern"):
            return _digits(str(options["pattern"]))
        if where.prefix:
            code = phonenumbers.country_code_for_region(where.country.upper())
            return f"{code}{phones.prefix_digits(where.prefix, where.country)}" if code else None
        return None

    def _search(self, params: Mapping[str, Any], operation: str) -> Iterator[dict[str, Any]]:
        """Numbers for sale, page after page (at most MAX_SEARCH_PAGES), with the same
        filters and each page's token, as MessageMedia asks."""
        pages = [0]

        def fetch(page: dict[str, Any]) -> Any:
            pages[0] += 1
            return self._get("", operation, page)

        def after(body: Any) -> Any:
            return None if pages[0] >= MAX_SEARCH_PAGES else _next_token(body)

        return token_pages(
            fetch,
            items=_data,
            next_token=after,
            params=params,
            provider=self.name,
            operation=operation,
            noun="numbers for sale",
        )

    def _fits(self, record: Mapping[str, Any], where: Where, options: Mapping[str, Any]) -> bool:
        """Whether a search result is what the declaration asked for: the filters the API
        may apply loosely (any-of services, pattern as digits anywhere) are checked here."""
        phone = record.get("phone_number")
        if not phone or not record.get("id"):
            return False
        e164 = to_e164(str(phone))
        if record.get("type") and OWNED_TYPES.get(str(record["type"])) != where.number_type:
            return False
        offered = {CAPABILITY_OF.get(str(c)) for c in record.get("capabilities") or ()}
        if not set(where.capabilities) <= offered:
            return False
        if where.prefix and not fits_prefix(e164, where.prefix):
            return False
        if options.get("pattern") and _digits(str(options["pattern"])) not in e164:
            return False
        wanted_class = options.get("class")
        return (
            not wanted_class
            or str(record.get("classification", "")).lower() == str(wanted_class).lower()
        )

    def _for_sale(self, number: str, operation: str) -> dict[str, Any] | None:
        """The search record of one specific number, or None when it is not for sale."""
        country = country_of(number)
        if country is None:
            return None
        params = {"country": country, "matching": _digits(number), "page_size": self.page_size}
        for record in _data(self._get("", operation, params)):
            if to_e164(str(record.get("phone_number") or "")) == number and record.get("id"):
                return record
        return None

    def quote(self, where: Where, count: int) -> Quote:
        """MessageMedia publishes no price through the API (the Hub portal shows them); the
        stock is counted when the search ends within its pages."""
        params = self._search_params(where, {})
        operation = f"search numbers for sale ({where.describe()})"
        found = 0
        for record in self._search(params, operation):
            if self._fits(record, where, {}):
                found += 1
                if found >= count:
                    return Quote(None, None)
        if found == 0:
            raise UnknownRegionError(
                self.name,
                operation,
                f"no numbers for sale matching {where.describe()}. Run `numbers-iac inventory "
                f"{self.name} --country {where.country.upper()}` to see what is for sale",
            )
        return Quote(None, found)

    def check_purchase(self, where: Where | None, options: Mapping[str, Any]) -> None:
        """A `class` or `pattern` no number for sale fits is reported at plan time, located
        at that option, instead of as a shortfall at apply (the quote ignores options)."""
        chosen = [key for key in ("pattern", "class") if options.get(key)]
        if where is None or not chosen:
            return
        params = self._search_params(where, options)
        operation = f"search numbers for sale ({where.describe()})"
        if any(self._fits(r, where, options) for r in self._search(params, operation)):
            return
        written = ", ".join(f"{key} {options[key]}" for key in chosen)
        raise DeclarationOptionError(
            self.name,
            operation,
            f"no numbers for sale matching {where.describe()} with {written}",
            chosen[0],
        )

    def quote_numbers(self, numbers: Sequence[str]) -> Quote:
        operation = "check specific numbers"
        for number in numbers:
            if self._for_sale(to_e164(number), operation) is None:
                raise NumberUnavailableError(
                    self.name, operation, f"{to_e164(number)} is not for sale on MessageMedia"
                )
        return Quote(None, len(numbers))

    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        """One row per number type with numbers for sale: the search's first page tells the
        capabilities, and the count when it is the only page."""
        rows = []
        for kind in [number_type] if number_type else list(TYPES):
            where = Where(country.upper(), kind)
            if kind not in TYPES:
                continue
            params = self._search_params(where, {})
            body = self._get("", f"list numbers for sale ({country.upper()} {kind})", params)
            records = [r for r in _data(body) if self._fits(r, where, {})]
            if not records:
                continue
            services = {
                CAPABILITY_OF.get(str(c)) for r in records for c in r.get("capabilities") or ()
            }
            rows.append(
                InventoryRow(
                    country.upper(),
                    kind,
                    None,
                    None,
                    None if _next_token(body) else len(records),
                    None,
                    tuple(sorted(s for s in services if s)),
                )
            )
        return rows

    # ================================================================= the purchase protocol
    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        """Pinned numbers by their search records (their ids); otherwise search results
        that fit the declaration, from the first page on each call (assigned numbers leave
        the search, so the first pages keep offering fresh ones)."""
        if request.pinned or request.where is None:
            operation = "find pinned numbers for sale"
            candidates = []
            for number in [n for n in request.pinned if n not in exclude][:count]:
                record = self._for_sale(number, operation) or {}
                candidates.append(Candidate(number, str(record.get("id") or ""), None, record))
            return Offer(request, SPECIFIC, len(candidates), tuple(candidates))
        where, options = request.where, request.options
        params = self._search_params(where, options)
        operation = f"search numbers for sale ({where.describe()})"
        candidates = []
        for record in self._search(params, operation):
            number = to_e164(str(record.get("phone_number") or ""))
            if number in exclude or not self._fits(record, where, options):
                continue
            candidates.append(Candidate(number, str(record["id"]), None, record))
            if len(candidates) >= count:
                break
        return Offer(request, SPECIFIC, len(candidates), tuple(candidates))

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """Assign one number with its label and metadata: `POST .../{id}/assignment`. A 409
        means taken, held, or already ours: the assigned list says which. Any answer that
        may hide an assignment (timeout, 5xx, unreadable) is checked in the list too, and
        is an unknown outcome when the list does not show it."""
        (candidate,) = offer.candidates
        operation = f"assign {candidate.number}"
        if not candidate.provider_id:
            raise NumberUnavailableError(
                self.name, operation, f"{candidate.number} is not for sale on MessageMedia"
            )
        label = offer.request.tag or offer.request.declaration
        body = {"label": label, "metadata": dict(offer.request.labels)}
        try:
            response = self.http.request(
                "POST",
                f"{PREFIX}/{candidate.provider_id}/assignment",
                operation=operation,
                json=body,
                retry=False,
            )
        except TransientError as exc:
            if not exc.maybe_sent:
                raise
            return self._read_back_or_unknown(candidate, operation, exc)
        except (AuthError, RateLimitedError):
            raise
        except ProviderError as exc:
            if exc.status == 409:
                return self._after_conflict(candidate, operation, exc)
            if exc.status == 404:
                raise NumberUnavailableError(self.name, operation, exc.detail, 404) from None
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 499):
                raise
            return self._read_back_or_unknown(candidate, operation, exc)
        if not 200 <= response.status_code < 300:  # a redirect is not an assignment
            odd = ProviderError(self.name, operation, f"unexpected HTTP {response.status_code}")
            return self._read_back_or_unknown(candidate, operation, odd)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        assignment = answer if isinstance(answer, dict) else {}
        sent = {**body, **{k: v for k, v in assignment.items() if v is not None}}
        record = {**candidate.record, "id": candidate.provider_id}
        record.setdefault("phone_number", candidate.number)
        return (self._described(record, sent, self._bought_status(record)),)

    @staticmethod
    def _bought_status(record: Mapping[str, Any]) -> str:
        """US toll-free numbers are assigned UNVERIFIED (they need a verification)."""
        toll_free_us = record.get("type") == "TOLL_FREE" and record.get("country") == "US"
        return PENDING if toll_free_us else ACTIVE

    def _after_conflict(
        self, candidate: Candidate, operation: str, exc: ProviderError
    ) -> tuple[OwnedNumber, ...]:
        """409: the number is assigned (to someone, maybe to us) or held for its previous
        owner. Ours only if the assigned list shows it; otherwise another one is tried."""
        try:
            found = self._look_up(candidate)
        except ProviderError:
            found = None  # this request assigned nothing: a 409 is a refusal either way
        if found is not None:
            return (found,)
        raise NumberUnavailableError(
            self.name,
            operation,
            f"{candidate.number} is assigned or held for its previous owner ({exc.detail})",
            409,
        ) from None

    def _read_back_or_unknown(
        self, candidate: Candidate, operation: str, exc: ProviderError
    ) -> tuple[OwnedNumber, ...]:
        try:
            found = self._look_up(candidate)
        except ProviderError:
            found = None  # nobody knows: only a sighting is conclusive
        if found is None:
            raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
        return (found,)

    def _look_up(self, candidate: Candidate) -> OwnedNumber | None:
        """The number as the assigned list shows it (filtered by its digits), or None."""
        params = {"matching": _digits(candidate.number)}
        operation = f"check whether {candidate.number} is assigned to the account"
        for item in self._assigned(operation, params):
            owned = self._owned_number(item)
            if owned is not None and (
                owned.provider_id == candidate.provider_id or owned.number == candidate.number
            ):
                return owned
        return None

    # ================================================================= other mutations
    def _for_each(
        self, numbers: Sequence[OwnedNumber], act: Callable[[OwnedNumber], None]
    ) -> BatchOutcome:
        done: list[str] = []
        failed: dict[str, str] = {}
        for number in numbers:
            try:
                act(number)
            except ProviderError as exc:
                failed[number.number] = str(exc)
            else:
                done.append(number.number)
        return BatchOutcome(tuple(done), failed)

    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        """MessageMedia numbers have no app: unbinding is already true, binding impossible
        (the loader refuses `app:` on a MessageMedia declaration)."""
        if app_id is None:
            return BatchOutcome(done=tuple(n.number for n in numbers))
        why = "MessageMedia has no app binding for numbers (inbound messages go to webhooks)"
        return BatchOutcome(failed={n.number: why for n in numbers})

    def set_labels(
        self, changes: Sequence[tuple[OwnedNumber, str | None, Mapping[str, str]]]
    ) -> BatchOutcome:
        """PATCH the label (the declaration name) and the whole metadata map: MessageMedia
        replaces the map, so every label is sent every time (idempotent, safe to retry).
        A number whose label is not ours to set keeps the one it has, sent back with the
        map: the API's schema marks both fields required."""
        wanted = {n.number: (tag, dict(labels)) for n, tag, labels in changes}

        def write(number: OwnedNumber) -> None:
            tag, labels = wanted[number.number]
            body: dict[str, Any] = {"metadata": labels}
            label = tag if tag is not None else number.tag
            if label is not None:
                body["label"] = label
            try:
                self.http.request(
                    "PATCH",
                    f"{PREFIX}/{number.provider_id}/assignment",
                    operation=f"label {number.number}",
                    json=body,
                    retry=True,
                )
            except NotFoundError:
                raise ProviderError(
                    self.name,
                    f"label {number.number}",
                    "the number is not assigned to this account (404)",
                    404,
                ) from None

        return self._for_each([n for n, _, _ in changes], write)

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        """`DELETE .../{id}/assignment`; a 404 means already released. MessageMedia holds a
        released number for this account for about 45 days (a new assignment takes it
        back, without its label and metadata)."""

        def release_one(number: OwnedNumber) -> None:
            try:
                # DELETE is safe to retry: a second one answers 404, which means done.
                self.http.request(
                    "DELETE",
                    f"{PREFIX}/{number.provider_id}/assignment",
                    operation=f"release {number.number}",
                    retry=True,
                )
            except NotFoundError:
                return

        return self._for_each(numbers, release_one)
