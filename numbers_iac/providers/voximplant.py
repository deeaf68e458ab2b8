"""Voximplant adapter: the Provider contract over the Management API's PhoneNumbers methods
(see shared/providers/voximplant.md and shared/seeds/voximplant-phone-numbers.txt).

Wire facts this module leans on (checked against the official Python SDK,
voximplant/apiclient-python `client.py`): `POST {base_url}/platform_api/{Method}` with
form-encoded parameters, lists joined with ";", numbers as digits without "+", success as a
flat JSON object, failure as `{"error": {"msg", "code"}}` whatever the HTTP status (so the
body is read before the status). Auth is a fresh RS256 JWT per request from a
service-account key file (`kid` = key_id, `iss` = account_id, a lifetime of seconds), or the
deprecated `account_id` + `api_key` parameters.

Purchases are of specific numbers: `GetNewPhoneNumbers` offers them, `AttachPhoneNumber`
with a `phone_number` list buys exactly those (never `phone_count`, which would buy more on
every retry), then `BindPhoneNumberToApplication` binds them (Attach takes no application).
There is no idempotency key: a lost Attach answer is never resent, the number is read back.
Labels live in the state store: Voximplant has no label field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

import httpx
import phonenumbers

from numbers_iac.errors import (
    AuthError,
    DeclarationOptionError,
    NumberUnavailableError,
    OutcomeUnknownError,
    OutOfStockError,
    Problem,
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
    App,
    Declaration,
    OwnedNumber,
    Price,
    ProviderConfig,
    Where,
)
from numbers_iac.phones import prefix_digits
from numbers_iac.providers.auth import JwtAuth
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
    for_sale_hint,
    no_progress,
    setting_problem,
)
from numbers_iac.providers.http import (
    DEFAULT_MAX_RETRIES,
    TIMEOUT_SETTING,
    BodyFault,
    HttpClient,
    require_credentials,
)
from numbers_iac.providers.paging import offset_pages

DEFAULT_BASE_URL = "https://api.voximplant.com"
ENV_CREDENTIALS = "VOXIMPLANT_CREDENTIALS"  # the SDK's variable: a key file's path
ENV_ACCOUNT_ID = "VOXIMPLANT_ACCOUNT_ID"
ENV_API_KEY = "VOXIMPLANT_API_KEY"
#: GetPhoneNumbers' documented default `count`; its maximum is unpublished (a setting)
PAGE_SIZE = 100
SEARCH_PAGE = 100
MAX_SEARCH_PAGES = 25
BATCH_SIZE = 100
LIST_THREADS = 4
#: a JWT lives this long; Voximplant refuses more than an hour, the SDK uses 29 s
TOKEN_LIFETIME = 30
ORDER_BY = "phone_number"
MAX_WARNED_NUMBERS = 5
#: a detail that quotes Voximplant's answers (a hint naming regions may run long)
DETAIL_LIMIT = 2000

#: our number type -> Voximplant's phone_category_name
CATEGORIES = {"local": "GEOGRAPHIC", "mobile": "MOBILE", "tollfree": "TOLLFREE"}
NUMBER_TYPES = {category: ours for ours, category in CATEGORIES.items()}
#: activation and verification states that mean "bought, not usable yet"
PENDING_ACTIVATION = frozenset(
    {"ACTIVATING", "PROVISIONING", "AWAITING_BUSINESS_PHONE_NUMBER_CONFIGURATION"}
)
PENDING_VERIFICATION = frozenset({"REQUIRED", "IN_PROGRESS"})

AUTH_CODES = frozenset({100, 104, 447, 454, 455, 456})
RATE_LIMIT_CODES = frozenset({340, 416})
#: "try later" says nothing of what was done: retried like an internal error, never a refusal
INTERNAL_CODES = frozenset({1, 2, 4, 20, 368, 162})
#: "probable automatic resend rejected" and "the same operation has been performed
#: recently": an earlier request like this one may have been done, so never a refusal
RESEND_CODES = frozenset({484, 515})
APP_CODES = frozenset({116, 558, 147, 156})
STOCK_CODES = frozenset({331, 332})
#: this number, not the request, cannot be bought
NUMBER_CODES = frozenset({121, 181, 182, 529, 530})
#: "phone number already exists": maybe in this account already, so read back first
EXISTS_CODES = frozenset({335})
#: the request was refused as a whole before anything was bought
REFUSAL_CODES = frozenset(
    {
        101,
        134,
        458,
        485,
        239,
        240,
        241,
        242,
        243,
        281,
        282,
        424,
    }
)
#: billing failed / insufficient money: a refusal, unless the charge came after the attach
BILLING_CODES = frozenset({5, 127})
#: Voximplant's number supplier failed the order (documents, the order, no product)
UPSTREAM_CODES = frozenset(range(576, 582))
OWNED_CODE = 395  # "the phone number is yours"


class CredentialsRefusedError(AuthError):
    """Voximplant's own auth codes (100, 104, the token's): the request was refused before
    it was acted on, which a bare HTTP 401/403 from something in front of the API does not
    prove."""


class RateLimitCodeError(RateLimitedError):
    """Voximplant's own rate-limit codes (340, 416): the request was not acted on."""


class RequestRefusedError(ProviderError):
    """A request Voximplant refused as a whole (bad arguments, verification, regulation
    address): nothing was done."""


class BillingRefusedError(RequestRefusedError):
    """5/127: billing failed or the money ran short. Whether the number was attached before
    the charge failed is read back before the purchase is closed."""


class UpstreamFailureError(RequestRefusedError):
    """576-581: Voximplant's number supplier failed the order. Whether anything was attached
    is read back before the purchase is closed."""


class ShortStockError(NumberUnavailableError, OutOfStockError):
    """Voximplant's 331/332: the region has fewer numbers in stock than asked. Nothing was
    bought (a refusal the core reads as such), and it is short stock."""


class ResendRejectedError(ProviderError):
    """484 (a probable automatic resend) and 515 (the same operation was performed
    recently): Voximplant took the request for a repeat of one it just served, so that one
    may have bought: never a refusal."""


class NumberExistsError(NumberUnavailableError):
    """335, "phone number already exists": refused for this number, unless the account
    is seen holding it (then the attach, or an earlier one, bought it)."""


def _prefix_code(where: Where) -> str:
    """A declared prefix as a region code compares with it: "+33 3 22", "0322" and "322"
    are Amiens' 322. Leading zeros are not compared (whether Voximplant writes Rome's
    code as 06 or 6, a declared 06 finds it; the numbers then fit the whole prefix)."""
    return prefix_digits(where.prefix, where.country).lstrip("0") if where.prefix else ""


def _region_code(region: Mapping[str, Any]) -> str:
    return str(region.get("phone_region_code") or "").lstrip("0")


def _narrows(where: Where, regions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a declared prefix says more than the regions' codes, so that only some of
    their numbers fit it."""
    wanted = _prefix_code(where)
    return any(len(wanted) > len(_region_code(r)) for r in regions)


def _dearest(prices: Sequence[Price | None]) -> Price | None:
    """One price per purchase: the dearest region prices them all, so totals never
    understate; unknown if any region's price is."""
    known = [p for p in prices if p is not None]
    if not known or len(known) < len(prices):
        return None
    return max(known, key=lambda p: (p.monthly, p.setup))


def error_class(code: int) -> tuple[type[ProviderError], bool]:
    """The typed error for one of Voximplant's codes, and whether it is worth retrying."""
    if code in AUTH_CODES:
        return CredentialsRefusedError, False
    if code in RATE_LIMIT_CODES:
        return RateLimitCodeError, True
    if code in INTERNAL_CODES:
        return TransientError, True
    if code in RESEND_CODES:
        return ResendRejectedError, code == 515  # a read or a repeatable call goes again
    if code in APP_CODES:
        return UnknownAppError, False
    if code in STOCK_CODES:
        return ShortStockError, False
    if code in NUMBER_CODES:
        return NumberUnavailableError, False
    if code in EXISTS_CODES:
        return NumberExistsError, False
    if code in REFUSAL_CODES:
        return RequestRefusedError, False
    if code in BILLING_CODES:
        return BillingRefusedError, False
    if code in UPSTREAM_CODES:
        return UpstreamFailureError, False
    return ProviderError, False


def body_error(body: Any) -> BodyFault | None:
    """`{"error": {"msg", "code"}}` (or an `errors` array, as the Go SDK decodes) as a fault
    carrying Voximplant's own words and code, whatever the HTTP status."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if error is None and isinstance(body.get("errors"), list) and body["errors"]:
        error = body["errors"][0]
    if not isinstance(error, dict):
        return None
    try:
        code = int(error.get("code"))
    except (TypeError, ValueError):
        code = -1
    cls, transient = error_class(code)
    return BodyFault(f"{error.get('msg') or 'error'} (code {code})", cls, transient)


def to_e164(digits: Any) -> str:
    return "+" + str(digits).lstrip("+")


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _city(region: str | None) -> str:
    return (region or "").split(",")[0].strip().casefold()


def _timestamp(value: Any) -> str | None:
    """Voximplant's "YYYY-MM-DD HH:mm:ss" (UTC) as ISO 8601."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").isoformat() + "+00:00"
    except ValueError:
        return text[:10] or None


def _first_total() -> Callable[[Mapping[str, Any]], Any]:
    """`total_count` as the first page told it (see plivo._first_total: a number bought
    while the listing is read must not make it incomplete)."""
    told: list[Any] = []

    def total(body: Mapping[str, Any]) -> Any:
        if not told:
            told.append(body.get("total_count"))
        return told[0]

    return total


def _result(body: Any) -> list[dict[str, Any]]:
    result = body.get("result") if isinstance(body, dict) else None
    return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []


def _read_key_file(value: str, base_dir: str, origin: str) -> dict[str, Any]:
    """The key file's JSON, from `value` as its text or its path; ValueError saying why
    not. The value is never echoed: a path that does not read may be key material pasted in
    the wrong shape."""
    text = value.strip()
    inline = text.startswith("{")
    if not inline:
        path = Path(text).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the "path"
            raise ValueError(_unreadable_key(text, origin, exc)) from None
    try:
        key = json.loads(text)
    except ValueError:
        what = f"the key file's JSON text in {origin}" if inline else "the key file"
        raise ValueError(f"{what} is not JSON (its text is not shown)") from None
    missing = [
        k
        for k in ("account_id", "key_id", "private_key")
        if not isinstance(key, dict) or not key.get(k)
    ]
    if missing:
        raise ValueError(f"the service-account key file has no {', '.join(missing)}")
    return key


def _signer(key: Mapping[str, Any]) -> JwtAuth:
    """The JWT signer of a service-account key; ValueError (never quoting the key) if its
    private key does not load."""
    account_id = key["account_id"]
    issuer = int(account_id) if str(account_id).isdigit() else str(account_id)
    return JwtAuth(
        str(key["private_key"]), key_id=str(key["key_id"]), issuer=issuer, lifetime=TOKEN_LIFETIME
    )


def _unreadable_key(text: str, origin: str, exc: Exception) -> str:
    """Why `credentials` gave no key file, in words that never quote it (it may be the
    key itself)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    hint = ""
    if text[:1] in ("'", '"') and text[1:2] == "{":
        hint = "; it looks like the key file's JSON wrapped in quotes: remove the quotes"
    elif "PRIVATE KEY-----" in text:
        hint = "; it looks like a private key alone: give the whole key file (its path or JSON)"
    return (
        f"{origin} is neither a readable key file ({reason}) nor a key file's JSON text "
        f"(its value is not shown: it may hold the key){hint}"
    )


def _is_numeric_id(value: object) -> bool:
    """An id Voximplant numbers: a positive whole number, or its ASCII digits as text."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0


def _problem(declaration: Declaration, field: str, message: str) -> Problem:
    source = declaration.located(field)
    return Problem(
        source.file if source else "<config>",
        source.line if source else None,
        source.column if source else None,
        f"numbers.{declaration.name}.{field}",
        message,
    )


class VoximplantProvider(Provider):
    """A Voximplant account. Settings: `credentials` (a service-account key file: its path,
    or its JSON text; default $VOXIMPLANT_CREDENTIALS), or the deprecated `account_id` +
    `api_key` (defaults $VOXIMPLANT_ACCOUNT_ID / $VOXIMPLANT_API_KEY); `sandbox`, `base_url`,
    `timeout`, `max_retries`, `page_size`, `bind_batch_size`, `release_batch_size`."""

    type_name: ClassVar[str] = "voximplant"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=False,
        ownership_tag=False,
        apps=True,
        purchase_modes=(SPECIFIC,),
        # each attach names its number and is journaled before it by the core: four at once
        purchase_concurrency=4,
        pending_orders=True,
        number_types=tuple(CATEGORIES),
        list_page_size=PAGE_SIZE,
        bind_batch_size=BATCH_SIZE,
        # the attach takes no app: the core binds what it bought, a batch of ids per call
        binds_on_purchase=False,
        bind_options=("rule",),
        release_batch_size=BATCH_SIZE,
        # bind and release calls at once, each journaled by the core before it is sent
        mutation_concurrency=4,
    )
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "credentials": {
            "description": "the service account's JSON key file: its path (relative to the configuration), or its JSON text from an environment variable such as ${VOXIMPLANT_KEY_JSON}. Default: $VOXIMPLANT_CREDENTIALS. Never printed.",
            "type": "string",
            "minLength": 1,
        },
        "account_id": {
            "description": "deprecated: the account id, for api_key authentication. Default: $VOXIMPLANT_ACCOUNT_ID.",
            "type": ["string", "integer"],
            "minLength": 1,
            "minimum": 1,
        },
        "api_key": {
            "description": "deprecated: the account's API key. Write ${VOXIMPLANT_API_KEY}, never the key itself. Default: $VOXIMPLANT_API_KEY.",
            "type": "string",
            "minLength": 1,
        },
        "sandbox": {
            "description": "true: list and buy the sandbox's test numbers (sandbox=true in the catalogue and listing calls). Default false.",
            "type": "boolean",
        },
        "timeout": TIMEOUT_SETTING,
        "max_retries": {
            "description": "retries of a failed read on 5xx/timeouts/rate-limit codes (default 8).",
            "type": "integer",
            "minimum": 0,
            "maximum": 50,
        },
        "unbind_before_rebind": {
            "description": "unbind a number from its current application before binding it to another (default false: Voximplant moves it; whether it does is unconfirmed).",
            "type": "boolean",
        },
        "page_size": {
            "description": "numbers per GetPhoneNumbers page (default 100, the documented default; the maximum is unpublished).",
            "type": "integer",
            "minimum": 1,
            "maximum": 10000,
        },
        "bind_batch_size": {
            "description": "phone ids per BindPhoneNumberToApplication call (default 100).",
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
        },
        "release_batch_size": {
            "description": "phone ids per DeactivatePhoneNumber call (default 100).",
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
        },
    }
    #: `base_url` is not listed: every HTTP provider takes it (`registry.HTTP_SETTINGS_SCHEMA`)
    settings_keys: ClassVar[tuple[str, ...]] = tuple(settings_schema)
    declaration_options: ClassVar[tuple[str, ...]] = (
        "rule",
        "country_state",
        "regulation_address_id",
    )

    @classmethod
    def validate_declaration(cls, declaration: Declaration) -> list[Problem]:
        """`rule` names a routing rule of the declaration's app; `country_state` is a state
        code (CA); `regulation_address_id` is Voximplant's numeric id of a proof of address."""
        problems = []
        options = declaration.options
        for key in ("rule", "country_state"):
            if key in options and (not isinstance(options[key], str) or not options[key].strip()):
                problems.append(_problem(declaration, key, f"{key} must be a name (text)"))
        if "rule" in options and not declaration.app:
            problems.append(
                _problem(declaration, "rule", "a rule belongs to an app: set app as well")
            )
        address = options.get("regulation_address_id")
        if "regulation_address_id" in options and not _is_numeric_id(address):
            problems.append(
                _problem(
                    declaration,
                    "regulation_address_id",
                    "regulation_address_id must be Voximplant's numeric id of the address",
                )
            )
        return problems

    def __init__(
        self,
        config: ProviderConfig,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(config)
        settings = config.settings
        self.sandbox = bool(settings.get("sandbox", False))
        self.page_size = int(settings.get("page_size", PAGE_SIZE))
        self.unbind_before_rebind = bool(settings.get("unbind_before_rebind", False))
        self.capabilities = replace(
            type(self).capabilities,
            list_page_size=self.page_size,
            bind_batch_size=int(settings.get("bind_batch_size", BATCH_SIZE)),
            release_batch_size=int(settings.get("release_batch_size", BATCH_SIZE)),
        )
        auth, self._auth_params, secrets = self._credentials(config)
        extra: dict[str, Any] = {}
        if sleep is not None:
            extra["sleep"] = sleep
        if clock is not None:
            extra["clock"] = clock
        self.http = HttpClient(
            self.name,
            str(settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/"),
            auth=auth,
            timeout=float(settings.get("timeout", 30.0)),
            max_retries=int(settings.get("max_retries", DEFAULT_MAX_RETRIES)),
            transport=transport,
            secrets=secrets,
            body_error=body_error,
            **extra,
        )
        #: (country, category) -> the regions for sale, each with its `country_state`
        self._catalogue: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._rules: dict[tuple[str, str], int] = {}
        #: declaration -> why Voximplant refused its last purchase as a whole
        #: declaration -> (the purchase's request, why Voximplant refused it as a whole):
        #: the request's identity keeps one purchase's refusal from reaching the next
        self._refused: dict[str, tuple[PurchaseRequest, ProviderError]] = {}
        #: numbers the last listing showed awaiting verification, with their hold date
        self.unverified: dict[str, str] = {}

    def _credentials(
        self, config: ProviderConfig
    ) -> tuple[httpx.Auth | None, dict[str, str], list[str]]:
        """The JWT signer of a service-account key file, or the legacy parameters."""
        settings = config.settings
        key_file = str(settings.get("credentials") or os.environ.get(ENV_CREDENTIALS) or "")
        if key_file:
            origin = (
                "the credentials setting" if settings.get("credentials") else f"${ENV_CREDENTIALS}"
            )
            try:
                auth = _signer(_read_key_file(key_file, config.base_dir, origin))
            except ValueError as exc:  # the message never quotes the key
                if settings.get("credentials"):  # written in the file: said at its line
                    raise setting_problem(config, "credentials", str(exc)) from None
                raise ProviderError(self.name, "read credentials", str(exc)) from None
            return auth, {}, list(auth.secrets)
        account_id = str(settings.get("account_id") or os.environ.get(ENV_ACCOUNT_ID) or "")
        api_key = str(settings.get("api_key") or os.environ.get(ENV_API_KEY) or "")
        require_credentials(
            self.name,
            (("credentials", ENV_CREDENTIALS, key_file or (account_id and api_key)),),
            f"export {ENV_CREDENTIALS} (a service-account key file), or the deprecated "
            f"{ENV_ACCOUNT_ID} and {ENV_API_KEY}",
        )
        return None, {"account_id": account_id, "api_key": api_key}, [api_key]

    def close(self) -> None:
        self.http.close()

    # ================================================================= wire
    def _call(
        self, method: str, params: Mapping[str, Any], operation: str, *, retry: bool = True
    ) -> dict[str, Any]:
        """POST one Management API method with form parameters; the JSON object back. The
        method is named twice, as the path's last segment (the HTTP API reference's form)
        and as `cmd` (the form the official Python and Node clients send to
        `/platform_api`), so either reading of the API routes it."""
        data = {"cmd": method, **self._auth_params}
        for key, value in params.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list | tuple):
                value = ";".join(str(v) for v in value)
            data[key] = str(value)
        body = self.http.request_json(
            "POST", f"/platform_api/{method}", operation=operation, data=data, retry=retry
        )
        if not isinstance(body, dict):
            raise ProviderError(self.name, operation, "the response was not a JSON object")
        return body

    def _shown(self, text: str, limit: int = DETAIL_LIMIT) -> str:
        """A detail quoting Voximplant's answers, fit for a message: through the client's
        redaction and escaping, like every detail the client builds itself."""
        return self.http.shown(text, limit=limit)

    def _sandbox_param(self) -> str:
        return "true" if self.sandbox else "false"

    # ================================================================= reads
    def _pages(
        self,
        method: str,
        operation: str,
        params: Mapping[str, Any],
        key: str,
        noun: str,
        progress: Progress = no_progress,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        return offset_pages(
            lambda p: self._call(method, p, operation),
            items=_result,
            total=_first_total(),
            page_size=page_size,
            params=params,
            limit_param="count",
            key=lambda record: record.get(key),
            workers=LIST_THREADS,
            progress=progress,
            provider=self.name,
            operation=operation,
            noun=noun,
        )

    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        """Every number, `GetPhoneNumbers` ordered by number and paged by offset until
        `total_count`; cancelled subscriptions are gone."""
        params = {"order_by": ORDER_BY, "sandbox": self._sandbox_param(), "canceled": False}
        records = self._pages(
            "GetPhoneNumbers",
            "list owned numbers",
            params,
            "phone_number",
            "numbers",
            progress,
            self.page_size,
        )
        owned: list[OwnedNumber] = []
        unverified: dict[str, str] = {}
        for record in records:
            number = self._owned(record)
            if number is None:
                continue
            owned.append(number)
            if record.get("unverified_hold_until") and number.status == PENDING:
                unverified[number.number] = str(record["unverified_hold_until"])
        self.unverified = unverified
        return tuple(sorted(owned, key=lambda n: n.number))

    def listing_warnings(self) -> tuple[str, ...]:
        """Numbers Voximplant will detach on their `unverified_hold_until` date (one line
        each for a few, one line for many)."""
        held = sorted(self.unverified.items(), key=lambda item: (item[1], item[0]))
        if len(held) > MAX_WARNED_NUMBERS:
            first, day = held[0]
            return (
                f"{len(held)} numbers await verification: Voximplant detaches each on its "
                f"unverified_hold_until date unless the account is verified by then (the "
                f"first, {first}, on {day})",
            )
        return tuple(
            f"{number} awaits verification: Voximplant detaches it on {day} unless the "
            "account is verified by then"
            for number, day in held
        )

    def _owned(self, record: Mapping[str, Any]) -> OwnedNumber | None:
        digits = str(record.get("phone_number") or "").lstrip("+")
        if not digits or record.get("canceled") is True or not record.get("phone_id"):
            return None
        activation = str(record.get("activation_status") or "").upper()
        verification = str(record.get("verification_status") or "").upper()
        pending = activation in PENDING_ACTIVATION or verification in PENDING_VERIFICATION
        app_id = record.get("application_id")
        return OwnedNumber(
            number=to_e164(digits),
            provider_id=str(record["phone_id"]),
            country=str(record.get("phone_country_code") or "").upper() or None,
            number_type=NUMBER_TYPES.get(str(record.get("category_name") or "").upper()),
            region=record.get("phone_region_name") or None,
            app_id=str(app_id) if app_id not in (None, "") else None,
            status=PENDING if pending else ACTIVE,
            monthly=_decimal(record.get("phone_price")),
            acquired_on=_timestamp(record.get("phone_purchase_date")),
        )

    def list_apps(self) -> tuple[App, ...]:
        """Every application, under its short name (what it was created as) and its full
        name: `GetApplications`' own name filter is a substring match, so names are
        compared here, exactly."""
        records = self._pages(
            "GetApplications", "list applications", {}, "application_id", "applications"
        )
        apps: dict[tuple[str, str], App] = {}
        for record in records:
            app_id = str(record.get("application_id") or "")
            full = str(record.get("application_name") or "")
            if not app_id or not full:
                continue
            short = full.split(".")[0]
            for name in dict.fromkeys((short, full)):
                apps.setdefault((app_id, name), App(app_id, name))
        return tuple(apps.values())

    # ----------------------------------------------------------------- catalogue
    def _category(self, number_type: str) -> str:
        category = CATEGORIES.get(number_type)
        if category is None:
            raise UnknownRegionError(
                self.name,
                "find the phone category",
                f"Voximplant sells no {number_type} numbers (it sells: {', '.join(CATEGORIES)})",
            )
        return category

    def _regions(self, country: str, category: str) -> list[dict[str, Any]]:
        """The regions of a country and category (every state's), stock included:
        categories -> states -> regions, walked once per run."""
        key = (country, category)
        if key in self._catalogue:
            return self._catalogue[key]
        operation = f"read the {country} {category} catalogue"
        body = self._call(
            "GetPhoneNumberCategories",
            {"country_code": country, "sandbox": self._sandbox_param()},
            operation,
        )
        entry = next((c for c in _result(body) if c.get("country_code") == country), None)
        found = None
        for item in (entry or {}).get("phone_categories") or []:
            if isinstance(item, dict) and item.get("phone_category_name") == category:
                found = item
        if found is None:
            sold = [
                NUMBER_TYPES.get(
                    str(c.get("phone_category_name")), str(c.get("phone_category_name"))
                )
                for c in (entry or {}).get("phone_categories") or []
                if isinstance(c, dict)
            ]
            what = f" (it sells: {', '.join(sold)})" if sold else ""
            raise UnknownRegionError(
                self.name,
                operation,
                self._shown(
                    f"Voximplant sells no {NUMBER_TYPES.get(category, category)} numbers in "
                    f"{country}{what}"
                ),
            )
        states: list[str | None] = [None]
        if found.get("country_has_states"):
            body = self._call(
                "GetPhoneNumberCountryStates",
                {"country_code": country, "phone_category_name": category},
                operation,
            )
            states = [str(s["country_state"]) for s in _result(body) if s.get("country_state")]
        regions: list[dict[str, Any]] = []
        for state in states:
            params = {
                "country_code": country,
                "phone_category_name": category,
                "country_state": state,
                "omit_empty": False,
            }
            for region in _result(self._call("GetPhoneNumberRegions", params, operation)):
                regions.append({**region, "country_state": state})
        self._catalogue[key] = regions
        return regions

    def _rows(self, country: str, number_type: str, regions: Sequence[Mapping[str, Any]]):
        local = number_type == "local"
        return [
            InventoryRow(
                country,
                number_type,
                str(r.get("phone_region_name") or "") or None if local else None,
                str(r.get("phone_region_code") or "") or None,
                r.get("phone_count") if isinstance(r.get("phone_count"), int) else None,
                self._price(r),
                ("voice", "sms") if r.get("is_sms_supported") else ("voice",),
            )
            for r in regions
        ]

    @staticmethod
    def _price(region: Mapping[str, Any]) -> Price | None:
        """The region's price to this account; None (unknown, and the plan says so) when it
        names none: both price fields are optional in the SDKs' region structures, and a
        price of 0 would understate what the plan costs."""
        monthly = _decimal(region.get("account_price"))
        if monthly is None:
            monthly = _decimal(region.get("phone_price"))
        if monthly is None:
            return None
        setup = _decimal(region.get("account_installation_price"))
        if setup is None:
            setup = _decimal(region.get("phone_installation_price")) or Decimal(0)
        currency = str(region.get("account_currency") or "USD")
        return Price(setup, monthly, currency)

    def _find(self, where: Where, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The regions a declaration may buy from; raises UnknownRegionError with what is
        for sale instead."""
        country = where.country.upper()
        regions = self._regions(country, self._category(where.number_type))
        state = str(options.get("country_state") or "").upper()
        digits = _prefix_code(where)
        sms = "sms" in where.capabilities

        def fits(region: Mapping[str, Any]) -> bool:
            name = str(region.get("phone_region_name") or "").casefold()
            code = _region_code(region)
            if state and str(region.get("country_state") or "").upper() != state:
                return False
            if where.region and _city(where.region) != name and where.region.casefold() != name:
                return False
            if digits and not (code.startswith(digits) or digits.startswith(code)):
                return False
            return not (sms and not region.get("is_sms_supported"))

        matching = [r for r in regions if fits(r)]
        if not matching:
            hint = for_sale_hint(where, self._rows(country, where.number_type, regions))
            raise UnknownRegionError(
                self.name,
                "find the region",
                self._shown(
                    f"Voximplant sells no numbers matching {where.describe()}"
                    + (f" in state {state}" if state else "")
                    + (f". {hint}" if hint else "")
                    + f". Run `numbers-iac inventory {self.name} --country {country}` to see "
                    "what is for sale"
                ),
            )
        return matching

    def quote(self, where: Where, count: int) -> Quote:
        """The regions' price and stock; under a prefix longer than their codes the stock
        is what a search finds that starts with the whole prefix (up to `count`), since a
        region's `phone_count` says nothing of how many of its numbers fit."""
        regions = self._find(where, {})
        price = _dearest([self._price(r) for r in regions])
        if _narrows(where, regions):
            operation = f"search numbers for sale ({where.describe()})"
            found: list[Candidate] = []
            for region in regions:
                found += self._search(where, region, count - len(found), frozenset(), operation)
                if len(found) >= count:
                    break
            return Quote(price, len(found))
        stock = [r.get("phone_count") for r in regions]
        available = sum(stock) if all(isinstance(s, int) for s in stock) else None
        return Quote(price, available)

    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        rows: list[InventoryRow] = []
        for ours in [number_type] if number_type else list(CATEGORIES):
            try:
                regions = self._regions(country.upper(), self._category(ours))
            except UnknownRegionError:
                if number_type:
                    raise
                continue
            rows += self._rows(country.upper(), ours, regions)
        return rows

    def check_purchase(self, where: Where | None, options: Mapping[str, Any]) -> None:
        """A region that needs a proof of address (`is_need_regulation_address`) needs the
        declaration's `regulation_address_id`: said at plan time, located at the option."""
        if where is None or options.get("regulation_address_id"):
            return
        try:
            regions = self._find(where, options)
        except UnknownRegionError:
            return  # the quote reports it, located at the region
        needing = [r for r in regions if r.get("is_need_regulation_address")]
        if needing and len(needing) == len(regions):
            raise DeclarationOptionError(
                self.name,
                "check the regulation address",
                self._shown(
                    f"Voximplant needs a proof of address to sell numbers in "
                    f"{needing[0].get('phone_region_name')}: set regulation_address_id to the "
                    "id of an address registered on the account"
                ),
                "regulation_address_id",
            )

    def _region_of(self, number: str) -> dict[str, Any] | None:
        """The region selling a specific number: its country and type from its digits, the
        region whose phone prefix starts its national number (the longest)."""
        try:
            parsed = phonenumbers.parse(to_e164(number))
        except phonenumbers.NumberParseException:
            return None
        country = phonenumbers.region_code_for_number(parsed)
        kind = phonenumbers.number_type(parsed)
        category = {
            phonenumbers.PhoneNumberType.MOBILE: "MOBILE",
            phonenumbers.PhoneNumberType.TOLL_FREE: "TOLLFREE",
        }.get(kind, "GEOGRAPHIC")
        national = phonenumbers.national_significant_number(parsed)
        try:
            regions = self._regions(country, category)
        except UnknownRegionError:
            return None
        fitting = [
            r for r in regions if national.startswith(str(r.get("phone_region_code") or "~"))
        ]
        if not fitting:
            return None
        region = max(fitting, key=lambda r: len(str(r.get("phone_region_code"))))
        return {**region, "country_code": country, "phone_category_name": category}

    def quote_numbers(self, numbers: Sequence[str]) -> Quote:
        prices = []
        for number in numbers:
            region = self._region_of(number)
            if region is None:
                raise NumberUnavailableError(
                    self.name, "price specific numbers", f"{to_e164(number)} is not for sale"
                )
            prices.append(self._price(region))
        if not prices:
            raise ProviderError(self.name, "price specific numbers", "no numbers given")
        return Quote(_dearest(prices), len(numbers))

    # ================================================================= the purchase protocol
    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        """Numbers from `GetNewPhoneNumbers`, region by region (nothing is reserved: a
        number can be gone by the attach, which then refuses it and the core asks again).
        A purchase Voximplant refused as a whole stops here, with its words."""
        refused = self._refusal(request)
        if refused is not None:
            del self._refused[request.declaration]
            raise refused
        self._rule_id(request)
        if request.pinned or request.where is None:
            return super().offer(request, count, exclude)
        where = request.where
        operation = f"search numbers for sale ({where.describe()})"
        candidates: list[Candidate] = []
        for region in self._find(where, request.options):
            self._check_address(region, request)
            candidates += self._search(where, region, count - len(candidates), exclude, operation)
            if len(candidates) >= count:
                break
        return Offer(request, SPECIFIC, len(candidates), tuple(candidates))

    def _search(self, where, region, count, exclude, operation) -> list[Candidate]:
        found: list[Candidate] = []
        params = {
            "country_code": where.country.upper(),
            "phone_category_name": CATEGORIES[where.number_type],
            "phone_region_id": region.get("phone_region_id"),
            "country_state": region.get("country_state"),
            "count": SEARCH_PAGE,
        }
        offset = 0
        for _ in range(MAX_SEARCH_PAGES):
            body = self._call("GetNewPhoneNumbers", {**params, "offset": offset}, operation)
            items = _result(body)
            for item in items:
                number = to_e164(item.get("phone_number") or "")
                if len(number) < 3 or number in exclude:
                    continue
                if where.prefix and not fits_prefix(number, where.prefix):
                    continue  # a prefix longer than the region's code narrows it further
                record = {
                    **region,
                    "country_code": where.country.upper(),
                    "phone_category_name": CATEGORIES[where.number_type],
                }
                found.append(
                    Candidate(number, str(item.get("phone_id")), self._price(region), record)
                )
                if len(found) >= count:
                    return found
            offset += len(items)
            total = body.get("total_count")
            if not items or (isinstance(total, int) and offset >= total):
                break
        return found

    def _check_address(self, region: Mapping[str, Any], request: PurchaseRequest) -> None:
        if region.get("is_need_regulation_address") and not request.options.get(
            "regulation_address_id"
        ):
            raise RequestRefusedError(
                self.name,
                f"purchase for {request.declaration}",
                self._shown(
                    f"Voximplant needs a proof of address to sell numbers in "
                    f"{region.get('phone_region_name')}: set regulation_address_id on the "
                    "declaration"
                ),
            )

    def _rule_id(self, request: PurchaseRequest) -> int | None:
        """The id of the declaration's routing rule on its app (`GetRules` filters by
        substring, so the exact name may be on a later page: every page is read, and the
        name is compared here, exactly)."""
        rule = request.options.get("rule")
        if not rule or not request.app_id:
            return None
        key = (request.app_id, str(rule))
        if key not in self._rules:
            operation = f"find rule {rule}"
            params = {"application_id": request.app_id, "rule_name": rule}
            for record in self._pages("GetRules", operation, params, "rule_id", "rules"):
                if record.get("rule_name") == rule:
                    self._rules[key] = int(record["rule_id"])
            if key not in self._rules:
                raise UnknownAppError(
                    self.name, operation, f"the application has no routing rule named {rule!r}"
                )
        return self._rules[key]

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """`AttachPhoneNumber` with `phone_number` = exactly this number (the core binds it
        to the declaration's app and rule afterwards, in batches). Voximplant's error code
        decides, whatever the HTTP status carrying it (which is unconfirmed): a refusal of
        this number raises NumberUnavailableError (the core tries another); a refusal of the
        whole request ends the purchase at the next offer, with its words; any other answer
        (internal errors, 484, unknown codes, no code at all) may hide a purchase and is
        read back, and if the number is not on the account, the outcome is unknown: nothing
        is ever resent. Concurrent commits share `_refused`: one refusal of the whole
        request stops the attaches not yet sent, never the answers already on their way."""
        (candidate,) = offer.candidates
        request = offer.request
        digits = candidate.number.lstrip("+")
        region = dict(candidate.record) or self._region_of(digits)
        operation = f"buy {candidate.number}"
        if region is None:
            raise NumberUnavailableError(
                self.name, operation, f"{candidate.number} is not for sale"
            )
        earlier = self._refusal(request)
        if earlier is not None:  # the rest of this offer would be refused alike: not sent
            raise NumberUnavailableError(self.name, operation, f"not tried: {earlier.detail}")
        params = {
            "country_code": region.get("country_code"),
            "phone_category_name": region.get("phone_category_name"),
            "phone_region_id": region.get("phone_region_id"),
            "country_state": region.get("country_state"),
            "phone_number": digits,
            "regulation_address_id": request.options.get("regulation_address_id"),
        }
        try:
            body = self._call("AttachPhoneNumber", params, operation, retry=False)
        except ShortStockError as exc:
            # The region ran out: say so at the next offer rather than try its other numbers.
            self._refused[request.declaration] = (request, exc)
            raise
        except NumberExistsError as exc:
            return self._read_back_or_refused(candidate, operation, exc)
        except (CredentialsRefusedError, RateLimitCodeError, NumberUnavailableError):
            raise  # Voximplant's own code: refused before or instead of the purchase
        except (BillingRefusedError, UpstreamFailureError) as exc:
            return self._read_back_or_refused(candidate, operation, exc, request)
        except (RequestRefusedError, UnknownAppError) as exc:
            raise self._refused_whole(request, operation, exc) from None
        except TransientError as exc:
            if not exc.maybe_sent:
                raise
            return self._read_back_or_unknown(candidate, operation, exc)
        except ProviderError as exc:  # 484, unknown codes, an HTTP status without a code
            return self._read_back_or_unknown(candidate, operation, exc)
        attached = (
            [a for a in body.get("phone_numbers") or [] if isinstance(a, dict)]
            if body.get("result")
            else []
        )
        record = next((a for a in attached if str(a.get("phone_number")) == digits), None)
        if record is None or not record.get("phone_id"):
            answer = self._shown(str(body), limit=200)
            odd = ProviderError(self.name, operation, f"unexpected answer {answer}")
            return self._read_back_or_unknown(candidate, operation, odd)
        price = self._price(region)
        owned = self._owned(
            {
                **record,
                "phone_country_code": region.get("country_code"),
                "category_name": region.get("phone_category_name"),
                "phone_region_name": region.get("phone_region_name"),
                "phone_price": price.monthly if price is not None else None,
            }
        )
        assert owned is not None
        return (owned,)

    def _refusal(self, request: PurchaseRequest) -> ProviderError | None:
        """Why Voximplant refused this purchase as a whole, if it did (None otherwise)."""
        found = self._refused.get(request.declaration)
        return found[1] if found is not None and found[0] is request else None

    def _refused_whole(
        self, request: PurchaseRequest, operation: str, exc: ProviderError
    ) -> NumberUnavailableError:
        """The error to raise for a request refused as a whole: this number is refused now,
        the purchase ends at the next offer with Voximplant's words."""
        self._refused[request.declaration] = (request, exc)
        return NumberUnavailableError(self.name, operation, exc.detail, exc.status)

    def _read_back_or_unknown(
        self, candidate: Candidate, operation: str, exc: ProviderError
    ) -> tuple[OwnedNumber, ...]:
        found = self._read_back(candidate.number)
        if found is None:
            raise self._unknown(operation, exc) from None
        return (found,)

    def _read_back_or_refused(
        self,
        candidate: Candidate,
        operation: str,
        exc: ProviderError,
        request: PurchaseRequest | None = None,
    ) -> tuple[OwnedNumber, ...]:
        """A refusal that may hide a purchase stands once the account is seen without the
        number: a billing or supplier failure refuses the whole `request`; "already
        exists" (no `request`) only this number, which is ours if the account shows it.
        When the account cannot be asked, the outcome is unknown."""
        try:
            found = self._lookup(candidate.number)
        except ProviderError:
            raise self._unknown(operation, exc) from None
        if found is None:
            if request is None:
                raise exc
            raise self._refused_whole(request, operation, exc) from None
        return (found,)

    def _unknown(self, operation: str, exc: ProviderError) -> OutcomeUnknownError:
        """An outcome in doubt never carries a 4xx status, which reads as "refused": the
        status is told in the words instead."""
        status = exc.status
        if status is not None and status < 500:
            return OutcomeUnknownError(self.name, operation, f"{exc.detail} (HTTP {status})")
        return OutcomeUnknownError(self.name, operation, exc.detail, status)

    def _read_back(self, number: str) -> OwnedNumber | None:
        """The number as the account holds it, or None when Voximplant does not show it or
        cannot be asked: only a sighting is conclusive."""
        try:
            return self._lookup(number)
        except ProviderError:
            return None

    def _lookup(self, number: str) -> OwnedNumber | None:
        """The number as the account holds it, None when the account does not show it;
        raises when Voximplant cannot be asked."""
        digits = number.lstrip("+")
        body = self._call(
            "GetPhoneNumbers",
            {"phone_number": digits, "sandbox": "all"},
            f"check whether {number} was bought",
        )
        for record in _result(body):
            if str(record.get("phone_number")) == digits:
                return self._owned(record)
        return None

    # ================================================================= other mutations
    def _ids(self, numbers: Sequence[OwnedNumber]) -> list[str]:
        """Explicit phone ids: `all` (or anything not an id) is never sent, since
        `phone_id=all` would act on every number of the account."""
        ids = [n.provider_id for n in numbers]
        bad = [n.number for n in numbers if not str(n.provider_id).isdigit()]
        if bad:
            raise ProviderError(
                self.name, "select numbers", self._shown(f"no phone_id known for {', '.join(bad)}")
            )
        return ids

    def _bind_call(
        self, numbers: Sequence[OwnedNumber], app_id: str, bind: bool, rule_id: int | None = None
    ) -> None:
        verb = (
            f"bind {len(numbers)} numbers to application {app_id}"
            if bind
            else (f"unbind {len(numbers)} numbers from application {app_id}")
        )
        params = {
            "phone_id": self._ids(numbers),
            "application_id": app_id,
            "rule_id": rule_id,
            "bind": bind,
        }
        # Binding to a given app is idempotent: safe to retry.
        self._call("BindPhoneNumberToApplication", params, verb, retry=True)

    def _batches(self, numbers: Sequence[OwnedNumber], size: int) -> Iterator[list[OwnedNumber]]:
        for start in range(0, len(numbers), max(1, size)):
            yield list(numbers[start : start + max(1, size)])

    def bind_with(
        self, numbers: Sequence[OwnedNumber], app_id: str | None, options: Mapping[str, Any]
    ) -> BatchOutcome:
        """`bind`, on the declaration's routing `rule` of the app when it names one (the
        same rule a purchase binds with), resolved by name with `GetRules`."""
        rule = options.get("rule")
        if not rule or app_id is None:
            return self.bind(numbers, app_id)
        try:
            rule_id = self._rule_id(PurchaseRequest("", 0, app_id=app_id, options={"rule": rule}))
        except ProviderError as exc:
            return BatchOutcome(failed={n.number: exc.detail for n in numbers})
        return self.bind(numbers, app_id, rule_id=rule_id)

    def bind(
        self, numbers: Sequence[OwnedNumber], app_id: str | None, rule_id: int | None = None
    ) -> BatchOutcome:
        """One `BindPhoneNumberToApplication` per batch of phone ids (on `rule_id` when
        given). Unbinding sends `bind=false` with the app each number is bound to now, read
        afresh (the listing the caller holds may be older); a number bound to nothing is
        done already."""
        done: list[str] = []
        failed: dict[str, str] = {}
        for batch in self._batches(numbers, self.capabilities.bind_batch_size):
            if app_id is not None:
                groups: dict[str | None, list[OwnedNumber]] = {app_id: batch}
                if self.unbind_before_rebind:
                    try:
                        self._unbind_elsewhere(batch, app_id)
                    except ProviderError as exc:
                        failed.update({n.number: exc.detail for n in batch})
                        continue
            else:
                try:
                    current = self._current_apps(batch)
                except ProviderError as exc:
                    failed.update({n.number: exc.detail for n in batch})
                    continue
                groups = {}
                for number in batch:
                    groups.setdefault(current.get(number.provider_id), []).append(number)
            for target, members in groups.items():
                if target is None:
                    done += [n.number for n in members]
                    continue
                try:
                    self._bind_call(
                        members, target, app_id is not None, rule_id if app_id else None
                    )
                except ProviderError as exc:
                    failed.update({n.number: exc.detail for n in members})
                    continue
                done += [n.number for n in members]
        return BatchOutcome(tuple(done), failed)

    def _unbind_elsewhere(self, batch: Sequence[OwnedNumber], app_id: str) -> None:
        """Unbind the numbers now bound to another application than `app_id`."""
        current = self._current_apps(batch)
        others: dict[str, list[OwnedNumber]] = {}
        for number in batch:
            bound = current.get(number.provider_id)
            if bound is not None and bound != app_id:
                others.setdefault(bound, []).append(number)
        for other, members in others.items():
            self._bind_call(members, other, False)

    def _current_apps(self, batch: Sequence[OwnedNumber]) -> dict[str, str]:
        """phone_id -> the application it is bound to now (unbound and gone: absent)."""
        return {
            str(r.get("phone_id")): str(r["application_id"])
            for r in self._records(batch, f"read the bindings of {len(batch)} numbers")
            if r.get("application_id") not in (None, "")
        }

    def _records(self, batch: Sequence[OwnedNumber], operation: str) -> list[dict[str, Any]]:
        """The listing records of these numbers, read by phone id a page at a time."""
        records: list[dict[str, Any]] = []
        for part in self._batches(batch, self.page_size):
            params = {"phone_id": self._ids(part), "sandbox": "all", "count": len(part)}
            records += _result(self._call("GetPhoneNumbers", params, operation))
        return records

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        """`DeactivatePhoneNumber` with explicit phone ids, a batch per call. A batch naming
        a number already gone is refused whole: what is still owned is released again."""
        done: list[str] = []
        failed: dict[str, str] = {}
        for batch in self._batches(numbers, self.capabilities.release_batch_size):
            try:
                self._deactivate(batch)
            except (NumberUnavailableError, ResendRejectedError):
                # an id already gone, or a repeat of a deactivation just done (a retry after
                # a lost answer): what is still owned says which
                still = self._still_owned(batch)
                if still is None:
                    failed.update(
                        {n.number: "could not tell whether it is still owned" for n in batch}
                    )
                    continue
                done += [n.number for n in batch if n.provider_id not in still]
                batch = [n for n in batch if n.provider_id in still]
                if not batch:
                    continue
                try:
                    self._deactivate(batch)
                except ProviderError as exc:
                    failed.update({n.number: exc.detail for n in batch})
                    continue
            except ProviderError as exc:
                failed.update({n.number: exc.detail for n in batch})
                continue
            done += [n.number for n in batch]
        return BatchOutcome(tuple(done), failed)

    def _deactivate(self, batch: Sequence[OwnedNumber]) -> None:
        # Deactivating again is refused (the id is gone), never doubled: safe to retry.
        self._call(
            "DeactivatePhoneNumber",
            {"phone_id": self._ids(batch)},
            f"release {len(batch)} numbers",
            retry=True,
        )

    def _still_owned(self, batch: Sequence[OwnedNumber]) -> set[str] | None:
        try:
            records = self._records(batch, "check which numbers are still owned")
        except ProviderError:
            return None
        return {str(r.get("phone_id")) for r in records if r.get("canceled") is not True}
