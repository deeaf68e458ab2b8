"""Serve a provider emulator on a loopback socket: for socket tests and `numbers-iac emulator`.

Only 127.0.0.1 is ever bound: an emulator accepts any request with its fixed credentials and
must not be reachable from another machine.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

import httpx
import yaml

from numbers_iac.emulators.faults import ConnectionDropped, FaultInjector
from numbers_iac.errors import NumbersIacError
from numbers_iac.model import ProviderConfig
from numbers_iac.providers.base import Provider
from numbers_iac.providers.registry import EMULATED_TYPES, emulator_class, provider_class
from numbers_iac.simulation import World, WorldError

LOOPBACK = "127.0.0.1"


def make_app(provider_type: str, world: World, **options: Any) -> FaultInjector:
    """The provider's emulator over `world`, wrapped in a FaultInjector.

    The emulator itself is `app.app`; options go to its constructor (credentials etc.)."""
    return FaultInjector(emulator_class(provider_type)(world, **options))


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _DroppingServerHandler(ServerHandler):
    """wsgiref's handler, except that a `drop` fault closes the connection unanswered."""

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], ConnectionDropped):
            with contextlib.suppress(OSError):
                self.request_handler.connection.shutdown(socket.SHUT_RDWR)
            self.request_handler.close_connection = True
            return
        super().handle_error()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def handle(self) -> None:
        """As `WSGIRequestHandler.handle`, with `_DroppingServerHandler`."""
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = self.server_handler_class(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=False
        )
        handler.request_handler = self
        handler.run(self.server.get_app())

    server_handler_class: type[ServerHandler] = _DroppingServerHandler


class _KeepAliveServerHandler(_DroppingServerHandler):
    http_version = "1.1"


class _KeepAliveHandler(_QuietHandler):
    """HTTP/1.1 with persistent connections, as real APIs answer: benchmarks must not charge
    the client a TCP connect per request that no real API makes it pay."""

    protocol_version = "HTTP/1.1"
    server_handler_class = _KeepAliveServerHandler

    def setup(self) -> None:
        super().setup()
        # wsgiref writes the headers and the body apart: without this, Nagle's algorithm and
        # the client's delayed ACK hold every answer on a reused connection for 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self.close_connection = True  # unless the request asks to keep it (parse_request)
            super().handle()
            if not self.raw_requestline:
                break


def _one_chunk(app: Any) -> Any:
    """The app's body joined into one chunk, so wsgiref can send its Content-Length (a
    persistent connection needs one)."""

    def joined(environ: dict, start_response: Any) -> list[bytes]:
        return [b"".join(app(environ, start_response))]

    return joined


class RunningServer:
    """An emulator served from a daemon thread. `url` is its base URL. `keep_alive` answers
    in HTTP/1.1 on persistent connections (benchmarks); by default each connection carries
    one request, which the fault tests' dropped connections rely on."""

    def __init__(self, app: Any, port: int = 0, *, keep_alive: bool = False):
        self.app = app
        self._server = make_server(
            LOOPBACK,
            port,
            _one_chunk(app) if keep_alive else app,
            server_class=_ThreadingWSGIServer,
            handler_class=_KeepAliveHandler if keep_alive else _QuietHandler,
        )
        self.port: int = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"emulator:{self.port}", daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def serve(
    provider_type: str, world: World, host: str = LOOPBACK, port: int = 0, **options: Any
) -> RunningServer:
    """Start the provider's emulator on 127.0.0.1 (port 0: any free port) in a daemon thread."""
    if host not in (LOOPBACK, "localhost"):
        raise ValueError(f"emulators only listen on {LOOPBACK}, not {host}")
    return RunningServer(make_app(provider_type, world, **options), port)


@dataclass
class Emulated:
    """A provider adapter wired to an emulator over a World, for tests.

    `app` is the FaultInjector (add faults, read its log), `emulator` the provider's WSGI
    app (options such as `total_count_skew` can be changed live), `server` the socket
    server when one was started."""

    provider: Provider
    app: FaultInjector
    world: World
    server: RunningServer | None = None

    @property
    def emulator(self) -> Any:
        return self.app.app

    def close(self) -> None:
        self.provider.close()
        if self.server is not None:
            self.server.shutdown()

    def __enter__(self) -> Emulated:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def emulated(
    provider_type: str,
    world: World,
    *,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    over_socket: bool = False,
    sleep: Callable[[float], None] | None = None,
    **options: Any,
) -> Emulated:
    """The provider's adapter talking to its emulator over `world`: in-process through
    `httpx.WSGITransport`, or over a real loopback socket with `over_socket=True`.

    `settings` are merged over the ones the emulator dictates (credentials, base_url);
    `sleep` replaces real sleeping in retries; `options` go to the emulator."""
    app = make_app(provider_type, world, **options)
    server = RunningServer(app) if over_socket else None
    base_url = server.url if server else "http://emulator.invalid"
    config = ProviderConfig(
        name or provider_type,
        provider_type,
        {**app.app.provider_settings(base_url), **(settings or {})},
    )
    transport = None if server else httpx.WSGITransport(app=app)
    kwargs: dict[str, Any] = {"transport": transport}
    if sleep is not None:
        kwargs["sleep"] = sleep
    provider = provider_class(provider_type)(config, **kwargs)
    return Emulated(provider, app, world, server)


def load_seed(path: str | os.PathLike[str]) -> World:
    """A World from a seed file (JSON or YAML, see `World.from_seed`)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a seed file holds a mapping (apps, owned, catalogue...)")
    return World.from_seed(data)


def credentials_for(provider_type: str, env: Mapping[str, str]) -> tuple[str, str]:
    """The credentials the emulator will accept: the provider's env vars, else its defaults."""
    cls = emulator_class(provider_type)
    (id_var, token_var), (default_id, default_token) = cls.env_credentials, cls.default_credentials
    return env.get(id_var) or default_id, env.get(token_var) or default_token


def run_forever(server: RunningServer, wait: Callable[[], None] | None = None) -> None:
    """Block until Ctrl-C (or until `wait` returns), then stop the server."""
    try:
        if wait is not None:
            wait()
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def main_emulator(
    provider_type: str,
    port: int,
    seed_file: str | None,
    echo: Callable[[str], None],
    env: Mapping[str, str] | None = None,
    wait: Callable[[], None] | None = None,
) -> None:
    """`numbers-iac emulator PROVIDER`: serve an emulated account until Ctrl-C."""
    env = os.environ if env is None else env
    if provider_type not in EMULATED_TYPES:
        raise NumbersIacError(
            f"no emulator for provider type {provider_type!r} (available: {', '.join(sorted(EMULATED_TYPES))})"
        )
    try:
        world = load_seed(seed_file) if seed_file else World.builtin()
    except (
        OSError,
        ValueError,
        yaml.YAMLError,
        WorldError,
        KeyError,
        TypeError,
        AttributeError,
    ) as exc:
        raise NumbersIacError(f"cannot read seed file {seed_file}: {exc}") from None
    auth_id, auth_token = credentials_for(provider_type, env)
    if not 0 <= port <= 65535:
        raise NumbersIacError(
            f"--port {port} is not a port: give 1 to 65535, or 0 for any free one"
        )
    try:
        server = serve(provider_type, world, port=port, auth_id=auth_id, auth_token=auth_token)
    except OSError as exc:
        raise NumbersIacError(_listen_error(port, exc)) from None
    id_var, token_var = emulator_class(provider_type).env_credentials
    # A token taken from the environment may be a real one: never print it.
    shown_token = f"(the value of ${token_var})" if env.get(token_var) else auth_token
    echo(f"{provider_type} emulator listening on {server.url}")
    echo(f"  provider settings: base_url: {server.url}")
    echo(f"  credentials: {id_var}={auth_id} {token_var}={shown_token}")
    echo("  press Ctrl-C to stop")
    run_forever(server, wait)


def _listen_error(port: int, exc: OSError) -> str:
    where = f"{LOOPBACK}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is in use (another emulator?); pick another "
            "--port, or --port 0 for any free one"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: permission denied (ports below 1024 need privileges); "
            "pick a port from 1024, or --port 0 for any free one"
        )
    return f"cannot listen on {where}: {exc.strerror or exc}"
