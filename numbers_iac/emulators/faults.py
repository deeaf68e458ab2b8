"""Fault injection for any emulator: rate limits, server errors, slow answers, on demand.

`FaultInjector` wraps a WSGI app. Tests add `Fault` rules; each request is checked against
them in order and the first live match answers instead of the app (or delays it). It also
keeps a request log and counts mutations, so tests can say "exactly one POST reached the
provider" or "the apply stopped after the third call".
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from numbers_iac.emulators.wsgi import StartResponse, WsgiApp

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConnectionDropped(Exception):
    """Raised by a `drop` fault: the socket server closes the connection unanswered."""


@dataclass
class Fault:
    """One rule. `match` is a substring of "METHOD /path" (None: every request).

    The first `after` matching requests (counted whether or not another rule answered them)
    are left alone; the next `times` get the fault. `status` None with a `delay` just slows the real answer down (to provoke client
    timeouts); otherwise the fault answers `status` with an error body and optional
    `Retry-After` header. With `then_fail=True` the app handles the request first and the
    fault replaces its answer: the provider acted but the client never heard (a lost reply).
    `on_request` / `on_response` (called with method and path) let a test change the world
    just before or just after the app handles a request ("someone else bought it meanwhile").
    `drop=True` closes the connection without any answer (after the app acted, with
    `then_fail`): a reset the client cannot tell from a lost reply. It needs a socket
    server (`numbers_iac.emulators.serve`); in-process transports see an exception.
    """

    status: int | None = 503
    retry_after: float | None = None
    times: int = 1
    match: str | None = None
    delay: float = 0.0
    after: int = 0
    body: dict | None = None
    then_fail: bool = False
    on_request: Callable[[str, str], None] | None = None
    on_response: Callable[[str, str], None] | None = None
    drop: bool = False
    seen: int = 0
    fired: int = 0

    def wants(self, line: str) -> bool:
        return self.match is None or self.match in line

    @property
    def exhausted(self) -> bool:
        return self.fired >= self.times


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int


class FaultInjector:
    """WSGI middleware that injects faults and records what it saw. Thread-safe."""

    def __init__(self, app: WsgiApp, sleep: Callable[[float], None] = time.sleep):
        self.app = app
        self._sleep = sleep
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        #: mutating requests that reached the app, by method (injected answers excluded)
        self.mutations: Counter[str] = Counter()

    # ----------------------------------------------------------------- test API
    def add(self, fault: Fault | None = None, **kwargs) -> Fault:
        """Add a rule (a Fault, or its fields as keywords) and return it."""
        fault = fault or Fault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests(self, method: str | None = None, contains: str = "") -> list[LoggedRequest]:
        """Logged requests, filtered by method and a path substring."""
        with self._lock:
            return [
                r for r in self.log if (method is None or r.method == method) and contains in r.path
            ]

    @property
    def mutation_count(self) -> int:
        with self._lock:
            return sum(self.mutations.values())

    # ----------------------------------------------------------------- WSGI
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "/")
        describe = getattr(self.app, "describe_path", None)
        if describe is not None:  # one URL for every call (JSON-RPC): name the call too
            path = describe(environ)
        fault = self._pick(f"{method} {path}")
        if fault is not None and fault.delay:
            self._sleep(fault.delay)
        if fault is not None and fault.on_request is not None:
            fault.on_request(method, path)
        if fault is not None and (fault.status is not None or fault.drop):
            if fault.then_fail:
                for _ in self.app(environ, lambda *args: None):
                    pass
            if fault.drop:
                self._record(method, path, 0, reached_app=fault.then_fail)
                raise ConnectionDropped(f"{method} {path}")
            self._record(method, path, fault.status, reached_app=fault.then_fail)
            return self._answer(fault, start_response)
        seen_status: list[int] = []

        def recording_start(status: str, headers, exc_info=None):
            seen_status.append(int(status.split()[0]))
            return (
                start_response(status, headers, exc_info)
                if exc_info
                else start_response(status, headers)
            )

        body = list(self.app(environ, recording_start))
        status = seen_status[0] if seen_status else 0
        self._record(method, path, status, reached_app=True)
        if fault is not None and fault.on_response is not None:
            fault.on_response(method, path)
        return body

    def _pick(self, line: str) -> Fault | None:
        """The first live rule for this request. Every live matching rule counts the request
        towards its `after`, even when an earlier rule answers it."""
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.wants(line):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen > fault.after:
                    fault.fired += 1
                    chosen = fault
        return chosen

    def _record(self, method: str, path: str, status: int, reached_app: bool) -> None:
        with self._lock:
            self.log.append(LoggedRequest(method, path, status))
            if reached_app and method in MUTATING_METHODS:
                self.mutations[method] += 1

    @staticmethod
    def _answer(fault: Fault, start_response: StartResponse) -> list[bytes]:
        payload = fault.body or {"api_id": "fault-injected", "error": f"injected {fault.status}"}
        body = json.dumps(payload).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if fault.retry_after is not None:
            headers.append(("Retry-After", f"{fault.retry_after:g}"))
        start_response(f"{fault.status} Injected", headers)
        return [body]
