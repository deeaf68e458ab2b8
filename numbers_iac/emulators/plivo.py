"""A Plivo emulator: a WSGI app speaking Plivo's number/application wire format over a World.

It follows /work/shared/providers/plivo.md (paths, envelopes, status codes, error bodies);
where Plivo's behaviour is UNCONFIRMED the choice is a constructor option, so a test can
exercise the adapter against either reading. Standard library + the World only.
"""

from __future__ import annotations

import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
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

DEFAULT_AUTH_ID = "MAEMULATOR000000000"
DEFAULT_AUTH_TOKEN = "emulator-token"
ENV_AUTH_ID = "PLIVO_AUTH_ID"
ENV_AUTH_TOKEN = "PLIVO_AUTH_TOKEN"
PAGE_CAP = 20

#: Plivo search `type` -> the World's number types it covers
SEARCH_TYPES = {
    "fixed": ("local", "national"),
    "mobile": ("mobile",),
    "tollfree": ("tollfree",),
    "any": ("local", "national", "mobile", "tollfree"),
}
#: `Number/?type=` (or `number_type=`) -> the World's number types it covers
OWNED_TYPES = {
    "local": ("local",),
    "national": ("national",),
    "fixed": ("local", "national"),
    "mobile": ("mobile",),
    "tollfree": ("tollfree",),
}
SERVICES = ("voice", "sms", "mms")


class PlivoApiError(Exception):
    """An error the emulator answers with Plivo's `{"api_id", "error"}` body."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


def _digits(number: str) -> str:
    return number.lstrip("+")


def _rate(value: Decimal | None) -> str:
    return f"{Decimal(value or 0):.5f}"


class PlivoEmulator:
    """WSGI app emulating one Plivo account backed by `world`.

    Options for UNCONFIRMED behaviour and for tests:
    - `regulated`: ISO countries whose purchases come back per-number "pending" (in addition
      to groups the World marks regulated).
    - `unavailable_status`: HTTP status for buying a number that is not for sale (404).
    - `list_pending`: whether `Number/` lists numbers still pending approval (False).
    - `total_count_skew`: added to `Number/`'s `meta.total_count`, to make the API lie.
    """

    env_credentials = (ENV_AUTH_ID, ENV_AUTH_TOKEN)
    default_credentials = (DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN)

    def __init__(
        self,
        world: Any,
        auth_id: str = DEFAULT_AUTH_ID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        regulated: Iterable[str] = (),
        *,
        unavailable_status: int = 404,
        list_pending: bool = False,
        total_count_skew: int = 0,
        lock: threading.RLock | None = None,
    ):
        self.world = world
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.regulated = {c.upper() for c in regulated}
        self.unavailable_status = unavailable_status
        self._listing_cache: dict[tuple, list] = {}
        self.list_pending = list_pending
        self.total_count_skew = total_count_skew
        #: the World is not thread-safe; every request holds this while it touches it
        self.lock = lock or threading.RLock()
        self.prefix = f"/v1/Account/{auth_id}/"
        self.router = Router()
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "PhoneNumber/", self.search_numbers),
            ("POST", "PhoneNumber/{number}/", self.buy_number),
            ("GET", "Number/", self.list_numbers),
            ("GET", "Number/{number}/", self.get_number),
            ("POST", "Number/{number}/", self.update_number),
            ("DELETE", "Number/{number}/", self.release_number),
            ("GET", "Application/", self.list_applications),
            ("POST", "Application/", self.create_application),
            ("GET", "Application/{app_id}/", self.get_application),
        ]
        for method, pattern, handler in routes:
            self.router.add(method, self.prefix + pattern, handler)

    def provider_settings(self, base_url: str) -> dict[str, Any]:
        """Settings a `type: plivo` provider needs to talk to this emulator at `base_url`."""
        return {"auth_id": self.auth_id, "auth_token": self.auth_token, "base_url": base_url}

    # ----------------------------------------------------------------- WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            response = self.handle(request)
        except PlivoApiError as exc:
            response = self.error(exc.status, exc.error)
        except Exception as exc:  # an emulator bug: answer like a server error, visibly
            response = self.error(500, f"emulator error: {type(exc).__name__}: {exc}")
        return response(start_response)

    def handle(self, request: Request) -> Response:
        if request.basic_auth() != (self.auth_id, self.auth_token):
            raise PlivoApiError(401, "authentication failed: invalid auth_id or auth_token")
        if not request.path.startswith("/v1/Account/"):
            raise PlivoApiError(404, "not found")
        account = request.path.split("/")[3] if request.path.count("/") >= 3 else ""
        if account != self.auth_id:
            # Credentials for one account, path of another: Plivo refuses the request.
            raise PlivoApiError(401, "authentication failed: auth_id in the path does not match")
        with self.lock:
            response = self.router.dispatch(request)
        if response is None:
            raise PlivoApiError(404, "not found")
        if response.status == 405:
            raise PlivoApiError(405, "method not allowed")
        return response

    def error(self, status: int, error: str) -> Response:
        return json_response(status, {"api_id": self._api_id(), "error": error})

    # ----------------------------------------------------------------- search and buy
    def search_numbers(self, request: Request) -> Response:
        q = request.query
        country = q.get("country_iso", "").upper()
        if not country:
            raise PlivoApiError(400, "country_iso is required")
        kind = q.get("type", "any") or "any"
        if kind not in SEARCH_TYPES:
            raise PlivoApiError(400, f"invalid type {kind!r}: use fixed, mobile, tollfree or any")
        limit, offset = self._paging(q)
        services = self._services(q.get("services"))
        segments = []
        for number_type in SEARCH_TYPES[kind]:
            search = self._searcher(
                country, number_type, q.get("region"), q.get("pattern"), services
            )
            total = search(1, 0)[1]
            if total:
                segments.append((search, total))
        page, total = self._concatenated(segments, limit, offset)
        objects = [self._available_record(n) for n in page]
        return self._envelope("PhoneNumber/", q, limit, offset, total, objects)

    def _searcher(self, country, number_type, region, pattern, services):
        def search(limit: int, offset: int) -> tuple[list, int]:
            try:
                return self.world.search(
                    country,
                    number_type,
                    region=region or None,
                    prefix=pattern or None,
                    capabilities=services,
                    limit=limit,
                    offset=offset,
                )
            except world_module.WorldError:
                return [], 0

        return search

    @staticmethod
    def _concatenated(segments, limit: int, offset: int) -> tuple[list, int]:
        """Page through several searches as if they were one list."""
        total = sum(t for _, t in segments)
        page: list = []
        start = offset
        for search, seg_total in segments:
            if start >= seg_total:
                start -= seg_total
                continue
            if len(page) >= limit:
                break
            items, _ = search(limit - len(page), start)
            page.extend(items)
            start = 0
        return page[:limit], total

    def _available_record(self, available: Any) -> dict[str, Any]:
        group = available.group
        digits = _digits(available.number)
        caps = set(group.capabilities)
        fixed = group.number_type in ("local", "national")
        return {
            "number": digits,
            "prefix": group.prefix,
            "city": (group.region or "").upper(),
            "country": group.country,
            "region": group.region,
            "rate_center": None,
            "lata": None,
            "type": "fixed" if fixed else group.number_type,
            "sub_type": group.number_type if fixed else None,
            "setup_rate": _rate(group.setup),
            "monthly_rental_rate": _rate(group.monthly),
            "sms_enabled": "sms" in caps,
            "sms_rate": "0.00800" if "sms" in caps else "0.00000",
            "mms_enabled": "mms" in caps,
            "mms_rate": "0.01000" if "mms" in caps else "0.00000",
            "voice_enabled": "voice" in caps,
            "voice_rate": "0.00500" if "voice" in caps else "0.00000",
            "restriction": "country-address" if self._regulated(group) else None,
            "restriction_text": "proof of address required" if self._regulated(group) else None,
            "resource_uri": f"{self.prefix}PhoneNumber/{digits}/",
        }

    def _regulated(self, group: Any) -> bool:
        return bool(getattr(group, "regulated", False)) or group.country.upper() in self.regulated

    def buy_number(self, request: Request) -> Response:
        body = self._body(request)
        app_id = body.get("app_id") or None
        if app_id is not None and app_id not in self.world.apps:
            raise PlivoApiError(404, f"application {app_id} not found")
        number = "+" + request.params["number"]
        try:
            bought = self.world.buy(number, app_id=app_id)
        except world_module.NotForSale:
            raise PlivoApiError(
                self.unavailable_status, "number not available for purchase"
            ) from None
        except world_module.UnknownApp:
            raise PlivoApiError(404, f"application {app_id} not found") from None
        if bought.country.upper() in self.regulated:
            bought = self.world.hold_pending(bought.number)
        status = "pending" if bought.status == "pending" else "Success"
        return json_response(
            201,
            {
                "api_id": self._api_id(),
                "message": "created",
                "numbers": [{"number": _digits(bought.number), "status": status}],
                "status": "fulfilled",
            },
        )

    # ----------------------------------------------------------------- owned numbers
    def list_numbers(self, request: Request) -> Response:
        q = request.query
        limit, offset = self._paging(q)
        kind = q.get("type") or q.get("number_type")
        if kind and kind not in OWNED_TYPES:
            raise PlivoApiError(400, f"invalid type {kind!r}")
        services = self._services(q.get("services"))
        filters = (
            self.list_pending,
            q.get("alias"),
            kind,
            q.get("number_startswith", ""),
            tuple(services),
        )
        matching = self._listing_cache.get((self.world.version, filters))
        if matching is None:
            owned, _ = self.world.owned()
            matching = [
                n
                for n in owned
                if (self.list_pending or n.status != "pending")
                and ("alias" not in q or (n.alias or "") == q["alias"])
                and (not kind or n.number_type in OWNED_TYPES[kind])
                and _digits(n.number).startswith(q.get("number_startswith", ""))
                and set(services) <= set(n.capabilities)
            ]
            # A full walk asks for every page of the same filter: filter once per account
            # version, not once per page (which made a 10,000-number listing quadratic).
            self._listing_cache = {(self.world.version, filters): matching}
        page = matching[offset : offset + limit]
        objects = [self._number_record(n) for n in page]
        total = len(matching) + self.total_count_skew
        return self._envelope("Number/", q, limit, offset, total, objects)

    def get_number(self, request: Request) -> Response:
        number = self._owned(request.params["number"])
        return json_response(200, {"api_id": self._api_id(), **self._number_record(number)})

    def update_number(self, request: Request) -> Response:
        self._owned(request.params["number"])
        body = self._body(request)
        changes: dict[str, Any] = {}
        if "app_id" in body:
            app_id = body["app_id"] or None
            if app_id is not None and app_id not in self.world.apps:
                raise PlivoApiError(404, f"application {app_id} not found")
            changes["app_id"] = app_id
        if "alias" in body:
            changes["alias"] = body["alias"] or None
        if changes:
            self.world.update("+" + request.params["number"], **changes)
        return json_response(202, {"api_id": self._api_id(), "message": "changed"})

    def release_number(self, request: Request) -> Response:
        try:
            self.world.release("+" + request.params["number"])
        except world_module.NotOwned:
            raise PlivoApiError(404, "not found") from None
        return empty_response(204)

    def _owned(self, digits: str) -> Any:
        number = self.world.numbers.get("+" + digits)
        if number is None:
            raise PlivoApiError(404, "not found")
        return number

    def _number_record(self, n: Any) -> dict[str, Any]:
        digits = _digits(n.number)
        caps = set(n.capabilities)
        added = n.added_on or date.today().isoformat()
        renewal = (date.fromisoformat(added).replace(day=1) + timedelta(days=32)).replace(day=1)
        return {
            "number": digits,
            "alias": n.alias,
            "sub_account": None,
            "added_on": added,
            "renewal_date": renewal.isoformat(),
            "active": n.status != "pending",
            "application": (
                f"{self.prefix}Application/{n.app_id}/" if n.app_id is not None else None
            ),
            "carrier": "Plivo",
            "region": n.region,
            "city": (n.region or "").upper(),
            "country": n.country,
            "number_type": n.number_type,
            "monthly_rental_rate": _rate(n.monthly),
            "voice_enabled": "voice" in caps,
            "voice_rate": "0.00500" if "voice" in caps else "0.00000",
            "sms_enabled": "sms" in caps,
            "sms_rate": "0.00800" if "sms" in caps else "0.00000",
            "mms_enabled": "mms" in caps,
            "mms_rate": "0.01000" if "mms" in caps else "0.00000",
            "cnam_lookup": "disabled",
            "compliance_application_id": None,
            "compliance_status": "pending" if n.status == "pending" else None,
            "tendlc_campaign_id": None,
            "tendlc_registration_status": "UNREGISTERED",
            "toll_free_sms_verification": None,
            "resource_uri": f"{self.prefix}Number/{digits}/",
        }

    # ----------------------------------------------------------------- applications
    def list_applications(self, request: Request) -> Response:
        q = request.query
        limit, offset = self._paging(q)
        apps = sorted(self.world.apps.items())
        if "app_name" in q:
            apps = [(i, name) for i, name in apps if name == q["app_name"]]
        objects = [self._app_record(i, name) for i, name in apps[offset : offset + limit]]
        return self._envelope("Application/", q, limit, offset, len(apps), objects)

    def get_application(self, request: Request) -> Response:
        app_id = request.params["app_id"]
        if app_id not in self.world.apps:
            raise PlivoApiError(404, "not found")
        record = self._app_record(app_id, self.world.apps[app_id])
        return json_response(200, {"api_id": self._api_id(), **record})

    def create_application(self, request: Request) -> Response:
        name = self._body(request).get("app_name")
        if not name:
            raise PlivoApiError(400, "app_name is required")
        app_id = self.world.add_app(name)
        return json_response(
            201, {"api_id": self._api_id(), "message": "created", "app_id": app_id}
        )

    def _app_record(self, app_id: str, name: str) -> dict[str, Any]:
        return {
            "app_id": app_id,
            "app_name": name,
            "answer_url": f"https://example.invalid/{app_id}/answer",
            "answer_method": "POST",
            "hangup_url": f"https://example.invalid/{app_id}/hangup",
            "hangup_method": "POST",
            "fallback_answer_url": "",
            "fallback_method": "POST",
            "message_url": "",
            "message_method": "POST",
            "default_app": False,
            "default_endpoint_app": False,
            "enabled": True,
            "public_uri": False,
            "sip_uri": f"sip:{app_id}@app.plivo.com",
            "sub_account": None,
            "log_incoming_messages": True,
            "resource_uri": f"{self.prefix}Application/{app_id}/",
        }

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _api_id() -> str:
        return str(uuid.uuid4())

    @staticmethod
    def _paging(q: Mapping[str, str]) -> tuple[int, int]:
        try:
            limit = int(q.get("limit", PAGE_CAP))
            offset = int(q.get("offset", 0))
        except ValueError:
            raise PlivoApiError(400, "limit and offset must be integers") from None
        if not 1 <= limit <= PAGE_CAP:
            raise PlivoApiError(400, f"limit must be between 1 and {PAGE_CAP}")
        if offset < 0:
            raise PlivoApiError(400, "offset must be 0 or more")
        return limit, offset

    @staticmethod
    def _services(value: str | None) -> tuple[str, ...]:
        if not value:
            return ()
        services = tuple(s.strip() for s in value.split(",") if s.strip())
        unknown = [s for s in services if s not in SERVICES]
        if unknown:
            raise PlivoApiError(400, f"invalid services {','.join(unknown)}")
        return services

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise PlivoApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise PlivoApiError(400, "the request body must be a JSON object")
        return body

    def _envelope(self, resource, q, limit, offset, total, objects) -> Response:
        def page_path(at: int) -> str:
            params = {k: v for k, v in q.items() if k not in ("limit", "offset")}
            query = urllib.parse.urlencode({"limit": limit, "offset": at, **params})
            return f"{self.prefix}{resource}?{query}"

        meta = {
            "limit": limit,
            "offset": offset,
            "total_count": total,
            "previous": page_path(max(offset - limit, 0)) if offset > 0 else None,
            "next": page_path(offset + limit) if offset + limit < total else None,
        }
        return json_response(200, {"api_id": self._api_id(), "meta": meta, "objects": objects})
