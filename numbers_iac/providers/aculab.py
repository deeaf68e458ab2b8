"""Aculab Cloud adapter: the Provider contract over Aculab's `tel_*` web services and its
inbound services (see shared/providers/aculab.md and shared/seeds/aculab-inbound-numbers.txt).

Wire facts this module leans on: `https://ws-{cloud_id}.aculabcloud.net/`, Basic auth with
`{cloud_id}/{username}` and the API access key, parameters as form fields, booleans as
"True"/"False", non-ASCII characters sent as `\\uXXXX` escapes, errors as
`{"error": {"code", "text", ...}}`. Countries travel as English names and number types as
`did_type` (local -> geographic). Purchases are blind: `tel_purchase` buys a quantity in a
region and answers the numbers it bought, so the adapter sells in `quantity` mode. Apps are
inbound services: a YAML app names a template service; a number is bound by giving it a
service (named after its digits) whose configuration is the template's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from numbers_iac import phones
from numbers_iac.errors import (
    AuthError,
    DeclarationOptionError,
    NotFoundError,
    OutcomeUnknownError,
    Problem,
    ProviderError,
    RateLimitedError,
    RehearsalError,
    TransientError,
    UnknownRegionError,
)
from numbers_iac.model import (
    QUANTITY,
    Account,
    App,
    Attempt,
    Declaration,
    OwnedNumber,
    ProviderConfig,
    Where,
)
from numbers_iac.providers.base import (
    BatchOutcome,
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
    client_for,
    require_credentials,
)
from numbers_iac.providers.paging import map_concurrently

DEFAULT_BASE_URL = "https://ws-{cloud_id}.aculabcloud.net"
#: as the emulator's `env_credentials`: ACULAB_USERNAME may hold "{cloud_id}/{username}"
ENV_CLOUD_ID = "ACULAB_CLOUD_ID"
ENV_USERNAME = "ACULAB_USERNAME"
ENV_API_KEY = "ACULAB_API_KEY"
#: numbers per bind call (one template read, then a PUT per number, one after another) and
#: calls at once: the executor runs MUTATION_THREADS calls together, so as many PUTs are in
#: flight (1,000 binds: 40 calls in 10 waves of 26 round trips)
BIND_BATCH = 25
MUTATION_THREADS = 4
#: inbound service reads in flight while listing bindings (one per bound number)
READ_THREADS = 8
#: numbers per `tel_delete_numbers` call (UNCONFIRMED upstream limit; kept modest)
RELEASE_BATCH = 100

#: ISO alpha-2 -> the country name Aculab's discovery services use: every name in the
#: documented `tel_get_supported_countries` answers (geographic and national)
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
ISO_CODES = {name.casefold(): iso for iso, name in COUNTRY_NAMES.items()}
#: our number type -> Aculab's `did_type`
DID_TYPES = {
    "local": "geographic",
    "national": "national",
    "mobile": "mobile",
    "tollfree": "tollfree",
}
NUMBER_TYPES = {did: ours for ours, did in DID_TYPES.items()}
#: toll-free declaration options: which callers may reach the number (Aculab's defaults are
#: all False, and a toll-free number no one may call is refused, so one must be allowed)
CALL_KINDS = ("allow_landline", "allow_cellular", "allow_payphone")
#: declaration options that are names sent as they are written
TEXT_OPTIONS = ("state", "regulation_address")


def aculab_error_text(response: httpx.Response) -> str | None:
    """`error.text` (with its code and details) of Aculab's error envelope."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        text = str(error.get("text") or "")
        details = error.get("details")
        if isinstance(details, list) and details:
            text += " (" + "; ".join(str(d) for d in details) + ")"
        code = error.get("code")
        return f"{text} [code {code}]" if code else text or None
    return None


def escape(value: str) -> str:
    """Non-ASCII characters as `\\uXXXX`, as Aculab wants them ("Mönchengladbach" ->
    "M\\u00f6nchengladbach"); characters beyond the BMP as surrogate pairs."""
    out = []
    for ch in value:
        if ch.isascii():
            out.append(ch)
            continue
        encoded = ch.encode("utf-16-be")
        for i in range(0, len(encoded), 2):
            out.append(f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}")
    return "".join(out)


def _bool(value: bool) -> str:
    return "True" if value else "False"


def _region_name(region: str | None) -> str | None:
    """ "LONDON, UNITED KINGDOM" -> "London"; "London" stays."""
    if not region:
        return None
    return region.split(",")[0].strip()


def _apps(service_names: list[str]) -> tuple[App, ...]:
    """Template inbound services (those not named after a number) are the apps."""
    return tuple(App(n, n) for n in service_names if not n.isdigit())


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _place_key(place: str, country: str) -> str:
    """A region as it is compared: a name case-folded, or for the digits that name a
    non-geographic region (800), the digits a declared prefix means there: GB's "0800" is
    800, as on every provider."""
    text = place.strip()
    return phones.prefix_digits(text, country) if text.isdigit() else text.casefold()


class AculabProvider(Provider):
    """An Aculab Cloud account. Settings: `cloud_id`, `username`, `api_key` (defaults:
    $ACULAB_CLOUD_ID, $ACULAB_USERNAME - which may hold "{cloud_id}/{username}" - and
    $ACULAB_API_KEY), `base_url` (default https://ws-{cloud_id}.aculabcloud.net), `timeout`,
    `max_retries`."""

    type_name: ClassVar[str] = "aculab"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=False,
        ownership_tag=False,
        apps=True,
        purchase_modes=(QUANTITY,),
        short_commit_final=True,
        prices_known=False,
        # a bind call reads its template once, then PUTs each number's service: batches
        # share that read, and four calls at once keep 1,000 binds from waiting 1,000
        # round trips one after another (Aculab publishes no rate limit)
        bind_batch_size=BIND_BATCH,
        release_batch_size=RELEASE_BATCH,
        mutation_concurrency=MUTATION_THREADS,
    )
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "cloud_id": {
            "description": "the Aculab Cloud id (like 1-2-0). Default: $ACULAB_CLOUD_ID, or the part of $ACULAB_USERNAME before '/'.",
            "type": "string",
            "minLength": 1,
        },
        "username": {
            "description": "the Aculab Cloud username (an email address). Default: $ACULAB_USERNAME.",
            "type": "string",
            "minLength": 1,
        },
        "api_key": {
            "description": "the API access key. Write ${ACULAB_API_KEY}, never the key itself. Default: $ACULAB_API_KEY.",
            "type": "string",
            "minLength": 1,
        },
        "timeout": TIMEOUT_SETTING,
        "max_retries": MAX_RETRIES_SETTING,
        "development": {
            "description": "true: purchases go to tel_purchase_development, which answers like tel_purchase but buys nothing and costs nothing, so a pipeline can rehearse an apply. Binds and releases still act on the account. Default false.",
            "type": "boolean",
        },
    }
    #: `base_url` is not listed: every HTTP provider takes it (`registry.HTTP_SETTINGS_SCHEMA`)
    settings_keys: ClassVar[tuple[str, ...]] = tuple(settings_schema)
    declaration_options: ClassVar[tuple[str, ...]] = (*TEXT_OPTIONS, *CALL_KINDS)

    @classmethod
    def validate_declaration(cls, declaration: Declaration) -> list[Problem]:
        """Toll-free call kinds are booleans, only for toll-free numbers (that one is allowed
        is checked when the plan buys: `check_purchase`); `state` and `regulation_address`
        are names."""
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

        options = declaration.options
        for key in TEXT_OPTIONS:
            if key in options and (not isinstance(options[key], str) or not options[key].strip()):
                problem(key, f"{key} must be a name (text), as Aculab spells it")
        for key in CALL_KINDS:
            if key not in options:
                continue
            if not isinstance(options[key], bool):
                problem(key, f"{key} must be true or false")
            elif declaration.number_type != "tollfree":
                problem(key, f"{key} applies to toll-free numbers only (type: tollfree)")
        buys = declaration.quantity > len(declaration.pinned)
        if declaration.number_type == "local" and declaration.prefix and buys:
            problem(
                "prefix",
                "Aculab sells local numbers by region, not by prefix: write `region:` with "
                f"a region's name (`numbers-iac inventory {declaration.provider} --country "
                f"{declaration.country}` lists them)",
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
        env_user = os.environ.get(ENV_USERNAME) or ""
        env_cloud, slash, env_name = env_user.partition("/")
        if not slash:
            env_cloud, env_name = "", env_user
        cloud_id = str(settings.get("cloud_id") or os.environ.get(ENV_CLOUD_ID) or env_cloud)
        username = str(settings.get("username") or env_name)
        api_key = str(settings.get("api_key") or os.environ.get(ENV_API_KEY) or "")
        require_credentials(
            self.name,
            (
                ("cloud_id", ENV_CLOUD_ID, cloud_id),
                ("username", ENV_USERNAME, username),
                ("api_key", ENV_API_KEY, api_key),
            ),
            f"export {ENV_USERNAME} ({{cloud_id}}/{{username}}) and {ENV_API_KEY}",
        )
        self.cloud_id = cloud_id
        self.username = username
        base_url = str(settings.get("base_url") or DEFAULT_BASE_URL.format(cloud_id=cloud_id))
        self.http = client_for(
            config,
            base_url,
            auth=(f"{cloud_id}/{username}", api_key),
            secrets=[api_key],
            error_text=aculab_error_text,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
        #: purchases go to `tel_purchase_development`: nothing is bought (a rehearsal)
        self.development = settings.get("development") is True
        #: (country, did_type) -> {state or None: [regions]} from the discovery services
        self._regions: dict[tuple[str, str], dict[str | None, list[str]]] = {}
        #: regulation address name -> {"country", "region"}, read once per run
        self._addresses: Mapping[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    # ================================================================= wire helpers
    def _tel(self, service: str, operation: str, params: Mapping[str, Any], *, retry: bool = True):
        """POST one `tel_*` service with form parameters (escaped) and decode its JSON."""
        data = {k: escape(str(v)) for k, v in params.items() if v is not None}
        return self.http.request_json(
            "POST", f"/{service}", operation=operation, data=data, retry=retry
        )

    def _country_name(self, iso: str) -> str:
        name = COUNTRY_NAMES.get(iso.upper())
        if name is None:
            raise UnknownRegionError(
                self.name, "find the country", f"Aculab sells no numbers in {iso} (as far as known)"
            )
        return name

    def _states(self, iso: str, country: str) -> list[str]:
        """The country's states; none when Aculab refuses the question: "not all countries
        support states", and what it answers for one without them is not documented (an
        empty list, or an error). Its regions are then asked without a state."""
        try:
            found = self._tel(
                "tel_get_supported_states", f"list states of {iso}", {"country": country}
            )
        except (AuthError, TransientError, RateLimitedError):
            raise
        except ProviderError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status in (404, 408):
                raise
            return []
        return [str(s) for s in found or []]

    def _catalogue(self, iso: str, did_type: str) -> dict[str | None, list[str]]:
        """Regions for sale by state (None: a country without states, or non-geographic)."""
        key = (iso, did_type)
        if key in self._regions:
            return self._regions[key]
        country = self._country_name(iso)
        states: list[str] = []
        if did_type == "geographic":
            states = self._states(iso, country)

        def regions(state: str | None) -> list[str]:
            found = self._tel(
                "tel_get_supported_regions",
                f"list {did_type} regions of {iso}",
                {"country": country, "did_type": did_type, "state": state},
            )
            return [str(r) for r in found or []]

        # one read per state (the US has 50 and more), `READ_THREADS` at a time
        keys: list[str | None] = list(states) or [None]
        catalogue = dict(
            zip(keys, map_concurrently(regions, keys, workers=READ_THREADS), strict=True)
        )
        self._regions[key] = catalogue
        return catalogue

    def _resolve(self, where: Where, state: str | None = None) -> tuple[str | None, str]:
        """(state, region as Aculab names it) to buy at `where`; raises UnknownRegionError."""
        did_type = DID_TYPES.get(where.number_type)
        if did_type is None:
            raise UnknownRegionError(
                self.name, "find the region", f"Aculab sells no {where.number_type} numbers"
            )
        catalogue = self._catalogue(where.country, did_type)
        asked = _region_name(where.region) if did_type == "geographic" else None
        asked = asked or where.prefix or where.region
        wanted = _place_key(asked, where.country) if asked is not None else None
        for cat_state, regions in catalogue.items():
            if state and cat_state and cat_state.casefold() != state.casefold():
                continue
            for region in regions:
                if wanted is None or _place_key(region, where.country) == wanted:
                    return cat_state, region
        rows = self._rows(where.country, where.number_type, catalogue)
        hint = for_sale_hint(where, rows)
        place = asked or where.country
        raise UnknownRegionError(
            self.name,
            "find the region",
            f"Aculab sells no {where.number_type} numbers in {place}"
            + (f" ({where.country})" if asked else "")
            + (f". {hint}" if hint else ""),
        )

    @staticmethod
    def _rows(
        iso: str, number_type: str, catalogue: Mapping[str | None, list[str]]
    ) -> list[InventoryRow]:
        local = number_type == "local"
        return [
            InventoryRow(
                iso,
                number_type,
                region if local else None,
                None if local else region,
                None,
                None,
            )
            for regions in catalogue.values()
            for region in regions
        ]

    # ================================================================= reads
    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        return self._listing(progress)[0]

    def list_apps(self) -> tuple[App, ...]:
        return _apps(self._service_names())

    def account(self, progress: Progress = no_progress) -> Account:
        """Numbers and apps from one read of the inbound services (their names give both
        the apps and the numbers that have a service of their own)."""
        numbers, names = self._listing(progress)
        return Account(self.name, numbers, _apps(names))

    def _listing(self, progress: Progress) -> tuple[tuple[OwnedNumber, ...], list[str]]:
        """`tel_list_numbers` answers the whole inventory in one object (no paging is
        documented); the inbound services' names are read while it is answered (neither
        needs the other). Bindings come from the numbers' own inbound services."""
        reads: list[Callable[[], Any]] = [
            lambda: self._tel("tel_list_numbers", "list owned numbers", {}),
            self._service_names,
        ]
        body, names = map_concurrently(lambda read: read(), reads, workers=2)
        if not isinstance(body, dict):
            raise ProviderError(self.name, "list owned numbers", "the response was not an object")
        bindings = self._bindings(set(body), names)
        numbers = []
        for digits, record in sorted(body.items()):
            record = record if isinstance(record, dict) else {}
            # a country Aculab names in words not in our table: the digits still tell
            iso = ISO_CODES.get(str(record.get("country", "")).casefold()) or phones.country_of(
                "+" + str(digits).lstrip("+")
            )
            number_type = NUMBER_TYPES.get(str(record.get("did_type", "")))
            region = str(record.get("region") or "") or None
            numbers.append(
                OwnedNumber(
                    number="+" + str(digits).lstrip("+"),
                    provider_id=str(digits).lstrip("+"),
                    country=iso,
                    number_type=number_type,
                    region=region if number_type == "local" else None,
                    app_id=bindings.get(str(digits)),
                    monthly=_decimal(record.get("price")),
                    acquired_on=str(record.get("purchased") or "") or None,
                )
            )
        progress(len(numbers), len(numbers))
        return tuple(numbers), names

    def _service_names(self) -> list[str]:
        body = self.http.get_json("/service/v1/inbound", operation="list inbound services")
        if isinstance(body, dict):
            body = body.get("services") or []
        return [str(name) for name in body or []]

    def _service(self, name: str) -> Any:
        return self.http.get_json(
            f"/service/v1/inbound/{name}", operation=f"read inbound service {name}"
        )

    def _bindings(self, owned: set[str], names: list[str]) -> dict[str, str]:
        """digits -> template service name whose configuration the number's service equals.
        One GET per template and per number that has a service: Aculab has no bulk read, so
        they run `READ_THREADS` at a time (1,000 bound numbers: 125 round trips, not 1,000)."""
        mine = [n for n in names if n in owned]
        if not mine:
            return {}
        template_names = [n for n in names if not n.isdigit()]
        configs = map_concurrently(self._service, template_names + mine, workers=READ_THREADS)
        count = len(template_names)
        templates = sorted(dict(zip(template_names, configs[:count], strict=True)).items())
        found: dict[str, str] = {}
        for digits, config in zip(mine, configs[count:], strict=True):
            for name, template in templates:
                if template == config:
                    found[digits] = name
                    break
        return found

    def quote(self, where: Where, count: int) -> Quote:
        """Aculab's discovery services publish neither price nor stock: only that the
        region is for sale (else UnknownRegionError)."""
        self._resolve(where)
        return Quote(None, None)

    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        rows: list[InventoryRow] = []
        for ours in [number_type] if number_type else list(DID_TYPES):
            catalogue = self._catalogue(country.upper(), DID_TYPES[ours])
            rows += self._rows(country.upper(), ours, catalogue)
        return rows

    def check_purchase(self, where: Where | None, options: Mapping[str, Any]) -> None:
        """A toll-free purchase allows at least one call kind (Aculab blocks every kind not
        allowed, and refuses an order allowing none): asked only of a plan that buys, so a
        toll-free pool that `import` wrote, holding its numbers, needs none. A
        `regulation_address` must be registered on the account, for the country bought in
        (`tel_list_regulation_addresses`), or the purchase fails at apply (0005/0006)."""
        kinds = [options[key] for key in CALL_KINDS if key in options]
        allowed = any(kind is True for kind in kinds)
        readable = all(isinstance(kind, bool) for kind in kinds)  # else validate says which
        tollfree = where is not None and where.number_type == "tollfree"
        if tollfree and readable and not allowed:
            raise DeclarationOptionError(
                self.name,
                "check the call kinds",
                "a toll-free number must accept calls from someone: set at least one of "
                "allow_landline, allow_cellular, allow_payphone to true",
                "type",
            )
        name = options.get("regulation_address")
        if not isinstance(name, str) or not name:
            return
        if self._addresses is None:
            body = self._tel("tel_list_regulation_addresses", "list regulation addresses", {})
            self._addresses = body if isinstance(body, dict) else {}
        address = self._addresses.get(name)
        if address is None:
            known = ", ".join(repr(n) for n in sorted(self._addresses)) or "none"
            raise DeclarationOptionError(
                self.name,
                "check the regulation address",
                f"no regulation address {name!r} is registered on the account "
                f"(registered: {known})",
                "regulation_address",
            )
        country = str(address.get("country", "")) if isinstance(address, dict) else ""
        if where is not None and country and ISO_CODES.get(country.casefold()) != where.country:
            raise DeclarationOptionError(
                self.name,
                "check the regulation address",
                f"regulation address {name!r} is in {country}, not {where.country}",
                "regulation_address",
            )

    def plan_warnings(self) -> tuple[str, ...]:
        if not self.development:
            return ()
        return (
            f"REHEARSAL: {self.name} has development: true: its purchases go to Aculab's "
            "tel_purchase_development and buy NOTHING (no numbers, no cost); binds and "
            "releases still act on the account",
        )

    # ================================================================= purchases
    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        """A blind order of `count` numbers at the request's place (checked to be for sale)."""
        if request.pinned or request.where is None:
            return super().offer(request, count, exclude)
        self._resolve(request.where, request.options.get("state"))
        return Offer(request, QUANTITY, count)

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """One `tel_purchase` with `allow_partial=True`: the answer lists exactly the numbers
        bought (fewer than asked means no more are for sale). A lost answer (timeout, 5xx)
        is never resent: the outcome is unknown and the core holds the attempt open."""
        request = offer.request
        where = request.where
        if offer.mode != QUANTITY or where is None:
            raise ProviderError(self.name, "buy numbers", "Aculab sells by region and quantity")
        state, region = self._resolve(where, request.options.get("state"))
        did_type = DID_TYPES[where.number_type]
        operation = f"buy {offer.count} {where.number_type} numbers in {region} ({where.country})"
        options = request.options
        params = {
            "country": self._country_name(where.country),
            "did_type": did_type,
            "state": state,
            "region": region,
            "quantity": offer.count,
            "allow_partial": _bool(True),
            "based_on": request.app_id,
            "regulation_address": options.get("regulation_address"),
        }
        if did_type == "tollfree":
            params.update({key: _bool(options.get(key) is True) for key in CALL_KINDS})
        service = "tel_purchase_development" if self.development else "tel_purchase"
        try:
            body = self._tel(service, operation, params, retry=False)
        except TransientError as exc:
            if not exc.maybe_sent:
                raise
            raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
        except ProviderError as exc:
            if exc.status is None or exc.status >= 500 or exc.status in (408, 499):
                raise OutcomeUnknownError(self.name, operation, exc.detail, exc.status) from None
            raise
        if not isinstance(body, list):
            raise OutcomeUnknownError(
                self.name, operation, "the answer was not a list of numbers", None
            )
        if self.development:
            raise RehearsalError(
                self.name,
                operation,
                f"development: true: tel_purchase_development accepted the order and answered "
                f"{len(body)} placeholder numbers; nothing was bought or charged",
            )
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        return tuple(
            OwnedNumber(
                number="+" + str(d).lstrip("+"),
                provider_id=str(d).lstrip("+"),
                country=where.country,
                number_type=where.number_type,
                region=region if did_type == "geographic" else None,
                app_id=request.app_id,
                acquired_on=today,
            )
            for d in body
        )

    def recover(self, attempts: Sequence[Attempt], account: Account) -> list[Recovery]:
        """The listing is all Aculab can tell (an order has no id and `purchased` is a date):
        an order may have produced a number listed at its place since the day it was sent.
        Regions compare as Aculab names them ("London" for "LONDON, UNITED KINGDOM")."""
        found = []
        for attempt in attempts:
            where = attempt.where
            if where is not None and where.region:
                where = dataclasses.replace(where, region=_region_name(where.region))
            recovery = recover_from_listing(dataclasses.replace(attempt, where=where), account)
            found.append(dataclasses.replace(recovery, attempt=attempt))
        return found

    # ================================================================= other mutations
    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        """Bind: PUT the template's configuration as the number's own inbound service.
        Unbind: DELETE the number's service (none there counts as done)."""
        done: list[str] = []
        failed: dict[str, str] = {}
        template: Any = None
        if app_id is not None:
            try:
                template = self._service(app_id)
            except ProviderError as exc:
                return BatchOutcome(failed={n.number: exc.detail for n in numbers})
        for number in numbers:
            digits = number.provider_id.lstrip("+")
            try:
                if app_id is None:
                    with contextlib.suppress(NotFoundError):
                        self.http.request(
                            "DELETE",
                            f"/service/v1/inbound/{digits}",
                            operation=f"unbind {number.number}",
                            retry=True,
                        )
                else:
                    self.http.request(
                        "PUT",
                        f"/service/v1/inbound/{digits}",
                        operation=f"bind {number.number} to {app_id}",
                        json=template,
                        retry=True,
                    )
            except ProviderError as exc:
                failed[number.number] = exc.detail
                continue
            done.append(number.number)
        return BatchOutcome(tuple(done), failed)

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        """One `tel_delete_numbers` per batch. `OK` releases the batch; after `PARTIAL` or
        `FAIL` the listing says which numbers went (an answer keyed differently, or without
        its `numbers` object, must not read as "all released"), and each number kept is
        reported with Aculab's description and code. A number no longer owned counts as
        released."""
        done: list[str] = []
        failed: dict[str, str] = {}
        for start in range(0, len(numbers), RELEASE_BATCH):
            batch = numbers[start : start + RELEASE_BATCH]
            by_digits = {n.provider_id.lstrip("+"): n.number for n in batch}
            operation = f"release {len(batch)} numbers"
            try:
                body = self._tel(
                    "tel_delete_numbers", operation, {"numbers": ",".join(by_digits)}, retry=True
                )
            except ProviderError as exc:
                failed.update({number: exc.detail for number in by_digits.values()})
                continue
            status = str(body.get("status", "")) if isinstance(body, dict) else ""
            if status == "OK":
                done += by_digits.values()
                continue
            if status not in ("PARTIAL", "FAIL"):
                answer = self.http.shown(f"unexpected answer {body!r}")
                failed.update(dict.fromkeys(by_digits.values(), answer))
                continue
            kept = body.get("numbers") if isinstance(body, dict) else None
            reasons = {
                str(key).lstrip("+"): value
                for key, value in (kept.items() if isinstance(kept, dict) else ())
            }
            try:
                listed = self._tel("tel_list_numbers", "check which numbers were released", {})
            except ProviderError as exc:
                failed.update(
                    dict.fromkeys(
                        by_digits.values(),
                        f"Aculab answered {status} and the listing could not be read to see "
                        f"which numbers went: {exc.detail}",
                    )
                )
                continue
            owned = {str(key).lstrip("+") for key in listed} if isinstance(listed, dict) else set()
            for digits, number in by_digits.items():
                if digits not in owned:
                    done.append(number)  # gone: deleted now, or before
                    continue
                reason = reasons.get(digits)
                reason = reason if isinstance(reason, dict) else {"description": str(reason or "")}
                description = str(reason.get("description") or f"not deleted ({status})")
                code = f" [code {reason.get('code')}]" if reason.get("code") else ""
                failed[number] = self.http.shown(f"{description}{code}")
        return BatchOutcome(tuple(done), failed)
