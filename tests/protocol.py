"""Run the core's purchase protocol against one provider, as apply does, for adapter tests.

Adapters no longer buy on their own: the executor's `PurchaseRun` drives offer / commit /
abort. Tests that check what an adapter buys go through the same code path, with a state
store of their own, so they exercise exactly what a user's apply would.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from numbers_iac.model import OwnedNumber, Purchase
from numbers_iac.providers.base import Provider, PurchaseRequest
from numbers_iac.purchase import PurchaseRun
from numbers_iac.state.base import StateStore
from numbers_iac.state.sqlite import SqliteStateStore


@dataclass
class Outcome:
    bought: tuple[OwnedNumber, ...]
    error: str | None
    unresolved: list[str] = field(default_factory=list)
    store: StateStore | None = None


def action_for(provider: Provider, request: PurchaseRequest) -> Purchase:
    return Purchase(
        provider.name,
        request.declaration,
        count=request.count,
        where=None if request.pinned else request.where,
        pinned=request.pinned,
        app_id=request.app_id,
        labels=dict(request.labels),
        options=dict(request.options),
    )


def run_purchase(
    provider: Provider,
    request: PurchaseRequest,
    on_bought: Callable[[OwnedNumber], None] | None = None,
    store: StateStore | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Outcome:
    if store is None:
        store = SqliteStateStore(Path(tempfile.mkdtemp()) / "state.sqlite")
    run = PurchaseRun(provider, store, "test", action_for(provider, request), should_stop)
    result = run.run()
    for owned in result.owned:
        if on_bought is not None:
            on_bought(owned)
    return Outcome(tuple(result.owned), result.error, result.unresolved, store)
