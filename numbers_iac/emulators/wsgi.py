"""Small WSGI helpers shared by the provider emulators: routing, JSON replies, Basic auth.

Standard library only, so an emulator runs anywhere Python does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


@dataclass
class Request:
    """The parts of a WSGI request an emulator looks at."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # captured from the route pattern

    @classmethod
    def from_environ(cls, environ: dict) -> Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        query = dict(
            urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        )
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        return cls(
            environ["REQUEST_METHOD"].upper(), environ.get("PATH_INFO", "/"), query, headers, body
        )

    def json(self) -> Any:
        """The body decoded as JSON (form-encoded bodies are accepted too); {} when empty."""
        if not self.body:
            return {}
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))
        return json.loads(self.body)

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) from an `Authorization: Basic` header, or None."""
        return parse_basic_auth(self.headers.get("Authorization"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, start_response: StartResponse) -> list[bytes]:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = ""
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {phrase}".rstrip(), headers)
        return [self.body]


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(payload).encode()
    return Response(status, body, [("Content-Type", "application/json"), *headers])


def empty_response(status: int = 204) -> Response:
    return Response(status)


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


Handler = Callable[[Request], Response]


class Router:
    """Maps (method, path pattern) to handlers. Patterns use `{name}` for one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method.upper(), re.compile(f"^{regex}$"), handler))

    def dispatch(self, request: Request) -> Response | None:
        """The handler's response; None when no pattern matches; 405 when only the method
        is wrong (the caller renders both in the provider's error format)."""
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = match.groupdict()
            return handler(request)
        return Response(405) if allowed else None
