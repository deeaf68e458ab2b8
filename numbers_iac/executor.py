"""The executor: carries out a Plan against providers and records every outcome in the state.

The only module that mutates the world. Order per provider: state-only changes (adopt, forget),
purchases, binds, label changes, and releases last, so a failure never leaves a declaration
with fewer numbers than before. Each provider call is journaled (intent before, outcome after);
each bought number is recorded the moment the provider confirms it, so a killed apply cannot
lead the next plan to buy it again. Independent actions continue after one fails; the report
tells what was done, what failed and why.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from numbers_iac.errors import GuardError, ProviderError
from numbers_iac.model import (
    Action,
    Adopt,
    Bind,
    Desired,
    Forget,
    ManagedNumber,
    OwnedNumber,
    Plan,
    Purchase,
    Recorded,
    Release,
    SetLabels,
)
from numbers_iac.providers.base import BatchOutcome, Provider, PurchaseRequest
from numbers_iac.state.base import StateStore
from numbers_iac.state.sqlite import utc_now

DONE, FAILED, SKIPPED = "done", "failed", "skipped"
#: journal operation for "about to buy this number"; open ones name numbers to adopt
BUY_ATTEMPT = "buy-attempt"


@dataclass(frozen=True)
class ActionResult:
    """What became of one planned action."""

    action: Action
    status: str
    detail: str = ""
    #: numbers the action produced (purchases: the numbers bought, even when it fell short)
    numbers: tuple[str, ...] = ()


@dataclass
class ApplyReport:
    """Everything an apply did, for the summary and the exit code."""

    apply_id: str
    results: list[ActionResult] = field(default_factory=list)

    def of_status(self, status: str) -> list[ActionResult]:
        return [r for r in self.results if r.status == status]

    @property
    def ok(self) -> bool:
        return not self.of_status(FAILED)


def check_guards(
    plan: Plan, desired: Desired | None, recorded: Mapping, allow_release: bool
) -> None:
    """Refuse, before anything changes, a plan whose releases were not explicitly allowed or
    that would release a protected number (the planner never plans that; this is the backstop).
    """
    releases = plan.releases
    protected = [r.number for r in releases if _is_protected(r, desired, recorded)]
    if protected:
        raise GuardError(
            f"refusing to apply: the plan would release protected number(s) {', '.join(protected)}"
        )
    if releases and not allow_release:
        numbers = ", ".join(r.number for r in releases[:5])
        more = f" and {len(releases) - 5} more" if len(releases) > 5 else ""
        raise GuardError(
            f"refusing to apply: the plan releases {len(releases)} number(s) ({numbers}{more}), "
            "which is IRREVERSIBLE. Re-run with --allow-release to release them, or use "
            "--target to apply other declarations only. Nothing was changed."
        )


def _is_protected(release: Release, desired: Desired | None, recorded: Mapping) -> bool:
    """A declaration still configured decides by its own `protect`; for a removed one the
    state's record of its last `protect` value does (the config can no longer say)."""
    record = recorded.get((release.provider, release.number))
    if desired is not None:
        owners = {release.declaration, record.declaration if record else release.declaration}
        owners |= {d.name for d in desired.declarations.values() if release.number in d.pinned}
        configured = [desired.declarations[o] for o in owners if o in desired.declarations]
        if any(d.protect for d in configured):
            return True
        if configured and (record is None or record.declaration in desired.declarations):
            return False
    return bool(record and record.protect)


class Executor:
    """Applies one plan. Create one per apply."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        store: StateStore,
        *,
        progress: Callable[[int, int | None], None] | None = None,
    ):
        self.providers = providers
        self.store = store
        self.apply_id = uuid.uuid4().hex[:12]
        self.report = ApplyReport(self.apply_id)
        self._progress = progress or (lambda done, total: None)
        self._done = 0
        self._total = 0
        self._records: dict[tuple[str, str], ManagedNumber] = {}
        #: (provider, declaration) whose purchase fell short: their releases must wait
        self._short: set[tuple[str, str]] = set()
        self._stop_requested = False

    def apply(self, plan: Plan, recorded: Recorded | None = None) -> ApplyReport:
        """Apply `plan`; `recorded` is the state as the caller just read it (else read here)."""
        self._records = dict((recorded or self.store.load()).numbers)
        by_provider: dict[str, list[Action]] = defaultdict(list)
        for action in plan.actions:
            by_provider[action.provider].append(action)
        self._total = len(plan.actions)
        with self._graceful_interrupts():
            for provider_name, actions in by_provider.items():
                if self._stop_requested:
                    break
                self._apply_provider(self.providers[provider_name], actions)
        reported = {id(r.action) for r in self.report.results}
        for action in plan.actions:
            if id(action) not in reported:
                self._result(action, SKIPPED, "not started: the apply was interrupted")
        return self.report

    @contextmanager
    def _graceful_interrupts(self) -> Iterator[None]:
        """First Ctrl-C (or SIGTERM): finish the provider call in flight and record it, then
        stop before the next one. A second Ctrl-C aborts at once. Killing the process mid-call
        is the journal's job."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            sys.stderr.write(
                "\nInterrupted: finishing the provider call in progress and recording it, then "
                "stopping. Press Ctrl-C again to abort at once.\n"
            )

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # ----------------------------------------------------------------- per provider
    def _apply_provider(self, provider: Provider, actions: list[Action]) -> None:
        self._record_only([a for a in actions if isinstance(a, Adopt | Forget)])
        # Pinned purchases first: a quantity purchase in the same region could otherwise be
        # handed a number another declaration pins.
        purchases = [a for a in actions if isinstance(a, Purchase)]
        steps: list[Callable[[], None]] = [
            functools.partial(self._purchase, provider, p)
            for p in sorted(purchases, key=lambda a: not a.pinned)
        ]
        binds: dict[str | None, list[Bind]] = defaultdict(list)
        for bind in (a for a in actions if isinstance(a, Bind)):
            binds[bind.app_id].append(bind)
        steps += [functools.partial(self._bind, provider, app_id, g) for app_id, g in binds.items()]
        labels = [a for a in actions if isinstance(a, SetLabels)]
        if labels:
            steps.append(functools.partial(self._set_labels, provider, labels))
        releases = [a for a in actions if isinstance(a, Release)]
        if releases:
            steps.append(functools.partial(self._release, provider, releases))
        for step in steps:
            if self._stop_requested:
                return
            step()

    def _record_only(self, actions: Sequence[Adopt | Forget]) -> None:
        if not actions:
            return
        forgets = [a for a in actions if isinstance(a, Forget)]
        for provider in {a.provider for a in forgets}:
            self.store.forget_numbers(
                provider, [a.number for a in forgets if a.provider == provider]
            )
        for action in forgets:
            self._records.pop((action.provider, action.number), None)
            self._result(action, DONE, "forgotten")
        saves: list[ManagedNumber] = []
        for action in actions:
            if isinstance(action, Forget):
                continue
            existing = self._records.get((action.provider, action.number))
            same = existing is not None and existing.declaration == action.declaration
            record = ManagedNumber(
                provider=action.provider,
                number=action.number,
                declaration=action.declaration,
                provider_id=action.provider_id,
                app=action.app,
                labels=dict(existing.labels) if same else {},
                protect=action.protect,
                status=action.status,
                created_at=existing.created_at if existing else "",
            )
            saves.append(record)
            self._records[(action.provider, action.number)] = record
        if saves:
            self.store.save_numbers(saves)
        for action in actions:
            if isinstance(action, Adopt):
                self._result(action, DONE, action.reason)

    def _purchase(self, provider: Provider, action: Purchase) -> None:
        request = PurchaseRequest(
            declaration=action.declaration,
            count=action.count,
            where=action.where,
            pinned=action.pinned,
            app_id=action.app_id,
            tag=action.declaration if provider.capabilities.ownership_tag else None,
            labels=dict(action.labels),
            should_stop=lambda: self._stop_requested,
            on_attempt=lambda number: attempts.append(
                self.store.journal_begin(
                    self.apply_id,
                    BUY_ATTEMPT,
                    action.provider,
                    action.declaration,
                    {"numbers": [number]},
                )
            ),
        )
        attempts: list[int] = []
        entry = self.store.journal_begin(
            self.apply_id, "purchase", action.provider, action.declaration, action.to_dict()
        )
        bought: list[str] = []

        def on_bought(number: OwnedNumber) -> None:
            record = ManagedNumber(
                provider=action.provider,
                number=number.number,
                declaration=action.declaration,
                provider_id=number.provider_id,
                app=action.app,
                labels=dict(action.labels),
                protect=action.protect,
                status=number.status,
                created_at=utc_now(),
            )
            self.store.save_numbers([record])
            self._records[(action.provider, number.number)] = record
            bought.append(number.number)

        try:
            outcome = provider.purchase(request, on_bought)
            error = outcome.error
        except ProviderError as exc:
            error = exc
        self.store.journal_end_many(attempts, "done")  # bought ones are recorded by now
        summary = f"bought {len(bought)} of {action.count}: {', '.join(bought) or 'none'}"
        if error is None and len(bought) < action.count and self._stop_requested:
            error = "interrupted; the next plan asks for the rest"
        if error is None and len(bought) == action.count:
            self.store.journal_end(entry, "ok", summary)
            self._result(action, DONE, summary, tuple(bought))
        else:
            detail = f"{summary}; {error}" if error else summary
            self.store.journal_end(entry, "partial" if bought else "failed", detail)
            self._result(action, FAILED, detail, tuple(bought))
            self._short.add((action.provider, action.declaration))

    def _bind(self, provider: Provider, app_id: str | None, actions: list[Bind]) -> None:
        outcome = self._batch(
            provider,
            "bind",
            actions,
            lambda owned: provider.bind(owned, app_id),
            {"app_id": app_id},
        )
        self._update_records(
            actions, outcome, lambda record, action: replace(record, app=action.app)
        )

    def _set_labels(self, provider: Provider, actions: list[SetLabels]) -> None:
        caps = provider.capabilities
        if caps.native_labels or caps.ownership_tag:
            changes = {a.number: (a.tag, dict(a.after)) for a in actions}

            def call(owned: list[OwnedNumber]) -> BatchOutcome:
                return provider.set_labels([(o, *changes[o.number]) for o in owned])

            outcome = self._batch(provider, "labels", actions, call, {})
        else:  # labels live in the state store only
            outcome = BatchOutcome(done=tuple(a.number for a in actions))
            for action in actions:
                self._result(action, DONE, "recorded in the state")
        self._update_records(
            actions, outcome, lambda record, action: replace(record, labels=dict(action.after))
        )

    def _release(self, provider: Provider, actions: list[Release]) -> None:
        waiting = [a for a in actions if (a.provider, a.declaration) in self._short]
        for action in waiting:
            self._result(
                action,
                SKIPPED,
                "not released: this declaration's purchase fell short, and releasing now "
                "would leave it with fewer numbers than before",
            )
        actions = [a for a in actions if a not in waiting]
        if not actions:
            return
        outcome = self._batch(provider, "release", actions, provider.release, {})
        if outcome.done:
            self.store.forget_numbers(provider.name, list(outcome.done))
            for number in outcome.done:
                self._records.pop((provider.name, number), None)

    # ----------------------------------------------------------------- helpers
    def _batch(
        self,
        provider: Provider,
        operation: str,
        actions: Sequence[Bind | SetLabels | Release],
        call: Callable[[list[OwnedNumber]], BatchOutcome],
        payload: dict,
    ) -> BatchOutcome:
        """One journaled provider call for many numbers; per-number results reported."""
        owned = [
            OwnedNumber(
                number=a.number, provider_id=a.provider_id, app_id=getattr(a, "app_id", None)
            )
            for a in actions
        ]
        declarations = ",".join(sorted({a.declaration for a in actions}))
        entry = self.store.journal_begin(
            self.apply_id,
            operation,
            provider.name,
            declarations,
            {**payload, "numbers": [a.number for a in actions]},
        )
        try:
            outcome = call(owned)
        except ProviderError as exc:
            outcome = BatchOutcome(failed={a.number: str(exc) for a in actions})
        failed = dict(outcome.failed)
        done = set(outcome.done) - set(failed)
        self.store.journal_end(
            entry,
            "ok" if not failed else ("partial" if done else "failed"),
            "; ".join(f"{n}: {why}" for n, why in failed.items()) or None,
        )
        for action in actions:
            if action.number in done:
                self._result(action, DONE)
            else:
                why = failed.get(action.number, "the provider did not confirm it")
                self._result(action, FAILED, why)
        return BatchOutcome(done=tuple(sorted(done)), failed=failed)

    def _update_records(
        self,
        actions: Sequence[Bind | SetLabels],
        outcome: BatchOutcome,
        change: Callable[[ManagedNumber, Bind | SetLabels], ManagedNumber],
    ) -> None:
        done = set(outcome.done)
        saves = []
        for action in actions:
            key = (action.provider, action.number)
            record = self._records.get(key)
            if action.number not in done or record is None:
                continue
            updated = change(record, action)
            self._records[key] = updated
            saves.append(updated)
        if saves:
            self.store.save_numbers(saves)

    def _result(
        self, action: Action, status: str, detail: str = "", numbers: tuple[str, ...] = ()
    ) -> None:
        self.report.results.append(ActionResult(action, status, detail, numbers))
        self._done += 1
        self._progress(self._done, self._total)
