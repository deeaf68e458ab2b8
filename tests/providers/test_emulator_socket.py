"""The Plivo emulator on a real loopback socket, the adapter talking to it over real HTTP."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from numbers_iac.emulators.serve import emulated, main_emulator, serve
from numbers_iac.errors import AuthError
from numbers_iac.model import ProviderConfig, Where
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.plivo import PlivoProvider
from numbers_iac.simulation import World
from tests.protocol import run_purchase


def test_adapter_round_trip_over_a_socket():
    world = World.from_seed({"apps": ["ivr"], "owned": 25})
    with emulated("plivo", world, over_socket=True) as env:
        assert env.server is not None and env.server.url.startswith("http://127.0.0.1:")
        provider = env.provider
        assert len(provider.list_numbers()) == 25
        (ivr,) = world.app_by_name("ivr")
        outcome = run_purchase(
            provider,
            PurchaseRequest("sf", 2, Where("US", "local", prefix="415"), app_id=ivr, tag="sf"),
            lambda owned: None,
        )
        assert outcome.error is None
        listed = {n.number: n for n in provider.list_numbers()}
        assert len(listed) == 27
        for owned in outcome.bought:
            assert listed[owned.number].app_id == ivr and listed[owned.number].tag == "sf"
        released = provider.release(outcome.bought)
        assert sorted(released.done) == sorted(n.number for n in outcome.bought)
        assert len(provider.list_numbers()) == 25
        logged = {(r.method, r.status) for r in env.app.requests()}
        assert {("POST", 201), ("POST", 202), ("DELETE", 204), ("GET", 200)} <= logged


def test_serve_answers_plain_http_with_plivo_errors():
    world = World.from_seed({"owned": 1})
    server = serve("plivo", world, auth_id="MATEST", auth_token="tok")
    try:
        unauthenticated = httpx.get(f"{server.url}/v1/Account/MATEST/Number/")
        assert unauthenticated.status_code == 401
        assert set(unauthenticated.json()) == {"api_id", "error"}
        config = ProviderConfig(
            "p", "plivo", {"auth_id": "MATEST", "auth_token": "bad", "base_url": server.url}
        )
        with PlivoProvider(config) as provider, pytest.raises(AuthError, match="HTTP 401"):
            provider.list_apps()
    finally:
        server.shutdown()


def test_emulators_only_bind_loopback():
    with pytest.raises(ValueError, match="127.0.0.1"):
        serve("plivo", World.from_seed({}), host="0.0.0.0")


def test_main_emulator_serves_a_seed_file_until_stopped(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"apps": ["ivr"], "owned": 3}))
    lines: list[str] = []
    answers: list[int] = []

    def use_it():  # stands in for the user, then for Ctrl-C
        url = lines[0].rsplit(" ", 1)[1]
        auth_id = lines[2].split()[1].split("=", 1)[1]
        config = ProviderConfig(
            "p",
            "plivo",
            {"auth_id": auth_id, "auth_token": env["PLIVO_AUTH_TOKEN"], "base_url": url},
        )
        with PlivoProvider(config) as provider:
            answers.append(len(provider.list_numbers()))
        raise KeyboardInterrupt

    env = {"PLIVO_AUTH_ID": "MASEEDED", "PLIVO_AUTH_TOKEN": "from-env"}
    main_emulator("plivo", 0, str(seed), lines.append, env=env, wait=use_it)
    assert answers == [3]
    assert "PLIVO_AUTH_ID=MASEEDED" in lines[2]
    assert "from-env" not in "".join(lines), "a token from the environment is never printed"
    assert not any(t.name.startswith("emulator:") and t.is_alive() for t in threading.enumerate())
