"""The purchase protocol: the one place that decides what is bought, and how a lost answer
is survived. Every provider inherits it; adapters only speak their API (offer, commit,
abort, recover).

The rules, whatever the provider:
- Nothing is paid for before the journal holds the attempt: the specific number, or for a
  blind order its declaration, count, place and time, or the reservation handle.
- Never more than asked: specific buys run at most `purchase_concurrency` at once, each
  journaled before its own commit, and never more of them than the count still missing.
- An ambiguous outcome (timeout, reset, 5xx, lost answer) never closes the attempt: the
  declaration stops buying in this apply, and the open attempt holds back that much of the
  shortfall in later plans until the listing (through `recover`) or the settle time says.
- A bought number is recorded and its attempt closed in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from numbers_iac.errors import (
    AuthError,
    NumberUnavailableError,
    OfferExpiredError,
    OutcomeUnknownError,
    OutOfStockError,
    ProviderError,
    RateLimitedError,
    RehearsalError,
    TransientError,
)
from numbers_iac.journal import BUY_ATTEMPT, UNKNOWN, attempt_payload
from numbers_iac.model import (
    QUANTITY,
    RESERVE,
    SPECIFIC,
    ManagedNumber,
    OwnedNumber,
    Purchase,
)
from numbers_iac.providers.base import Candidate, Offer, Provider, PurchaseRequest
from numbers_iac.state.base import StateStore
from numbers_iac.state.sqlite import utc_now

#: specific numbers refused in a row after which a search-based purchase stops: something
#: systematic is wrong (a bad app, an account limit), not just numbers taken meanwhile
MAX_REFUSED_IN_A_ROW = 10
#: reservations that lapsed before the buy, after which a purchase stops trying
MAX_RESERVE_ROUNDS = 3


@dataclass
class PurchaseResult:
    """What one purchase action produced."""

    bought: list[ManagedNumber] = field(default_factory=list)
    #: the same numbers as the provider described them
    owned: list[OwnedNumber] = field(default_factory=list)
    #: why it fell short (None: it bought everything asked); typed, with a user's message
    error: ProviderError | None = None
    #: numbers (or "N numbers" for blind orders) whose purchase may or may not have happened
    unresolved: list[str] = field(default_factory=list)


class PurchaseRun:
    """One Purchase action carried out through a provider's offer / commit / abort."""

    def __init__(
        self,
        provider: Provider,
        store: StateStore,
        apply_id: str,
        action: Purchase,
        should_stop: Callable[[], bool],
        on_bought: Callable[[int], None] | None = None,
    ):
        self.provider = provider
        self.store = store
        self.apply_id = apply_id
        self.action = action
        self.should_stop = should_stop
        #: told how many numbers were just bought, as each is recorded (progress)
        self.on_bought = on_bought or (lambda count: None)
        caps = provider.capabilities
        tagged = caps.ownership_tag or caps.native_labels
        self.request = PurchaseRequest(
            declaration=action.declaration,
            count=action.count,
            where=action.where,
            pinned=action.pinned,
            app_id=action.app_id,
            tag=action.declaration if tagged else None,
            labels=dict(action.labels),
            options=dict(action.options),
        )
        self.result = PurchaseResult()
        self.refused: list[str] = []
        self.notes: list[str] = []

    @property
    def need(self) -> int:
        return self.action.count - len(self.result.bought)

    def run(self) -> PurchaseResult:
        modes = self.provider.capabilities.purchase_modes
        mode = SPECIFIC if self.action.pinned else modes[0]
        try:
            if mode == QUANTITY:
                self._quantity()
            elif mode == RESERVE:
                self._reserve()
            else:
                self._specific()
        except ProviderError as exc:
            self.result.error = self.result.error or exc
        self._explain_shortfall()
        return self.result

    # ----------------------------------------------------------------- specific numbers
    def _specific(self) -> None:
        tried: set[str] = set()
        refused_in_a_row = 0
        while self.need > 0 and not self.should_stop():
            offer = self.provider.offer(self.request, self.need, frozenset(tried))
            fresh = list({c.number: c for c in offer.candidates if c.number not in tried}.values())
            if not fresh:
                return
            while fresh and self.need > 0 and not self.should_stop():
                batch = fresh[
                    : min(self.need, max(1, self.provider.capabilities.purchase_concurrency))
                ]
                fresh = fresh[len(batch) :]
                tried.update(c.number for c in batch)
                bought = self._commit_specific(offer, batch)
                refused_in_a_row = 0 if bought else refused_in_a_row + len(batch)
                if self.result.unresolved or self.result.error:
                    return
                if refused_in_a_row >= MAX_REFUSED_IN_A_ROW and not self.action.pinned:
                    self.result.error = self._error(
                        f"refused {refused_in_a_row} numbers in a row (last: "
                        f"{batch[-1].number}); stopping after {len(self.result.bought)} bought"
                    )
                    return

    def _commit_specific(self, offer: Offer, batch: Sequence[Candidate]) -> int:
        """Journal each number, then commit them (concurrently when the provider allows);
        returns how many were bought. The wave's journal entries are one state write,
        committed before any commit is sent, and so are its outcomes."""
        with self.store.grouped():
            entries = {
                c.number: self._journal(attempt_payload(SPECIFIC, 1, [c.number])) for c in batch
            }

        self.store.check_committed()

        def commit(candidate: Candidate) -> tuple[OwnedNumber, ...] | Exception:
            return self._commit(offer.single(candidate))

        if len(batch) == 1:
            outcomes = [commit(batch[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                outcomes = list(pool.map(commit, batch))
        bought = 0
        untagged: list[OwnedNumber] = []
        with self.store.grouped():
            for candidate, outcome in zip(batch, outcomes, strict=True):
                entry = entries[candidate.number]
                if isinstance(outcome, Exception):
                    self._failed_commit(entry, outcome, candidate.number)
                else:
                    bought += len(outcome)
                    detail = f"bought {candidate.number}"
                    untagged += self._record(outcome, entry, detail, 1, tag=False)
        # one set_labels for the whole wave: the provider runs it with its own concurrency,
        # where a tag per number one after another doubled a 1,000-number apply's wall time
        self._tag(untagged)
        return bought

    def _commit(self, offer: Offer) -> tuple[OwnedNumber, ...] | Exception:
        """One commit; any failure comes back as a value (a thread must not lose it). An
        unexpected one (a body the adapter could not read) may hide a purchase: unknown."""
        try:
            return self.provider.commit(offer)
        except ProviderError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - whatever broke, the attempt stays open
            return OutcomeUnknownError(
                self.provider.name,
                f"buy for {self.action.declaration}",
                f"unexpected {type(exc).__name__} while reading the answer: {exc}",
            )

    # ----------------------------------------------------------------- blind orders
    def _quantity(self) -> None:
        offer = self.provider.offer(self.request, self.need, frozenset())
        if offer.count <= 0:
            return
        if offer.count > self.need:
            self.result.error = self._error(
                f"the provider offered {offer.count} numbers for {self.need} asked: not bought"
            )
            return
        entry = self._journal(attempt_payload(QUANTITY, offer.count, where=self.request.where))
        bought = self._commit(offer)
        if isinstance(bought, Exception):
            what = f"{offer.count} number" + ("s" if offer.count != 1 else "")
            self._failed_commit(entry, bought, what, single=False)
            return
        rest = offer.count - len(bought)
        in_doubt = None
        if rest > 0 and not self.provider.capabilities.short_commit_final:
            in_doubt = attempt_payload(QUANTITY, rest, where=self.request.where)
        self._record(bought, entry, f"bought {len(bought)} of {offer.count}", offer.count, in_doubt)

    # ----------------------------------------------------------------- reservations
    def _reserve(self) -> None:
        tried: set[str] = set()
        for _ in range(MAX_RESERVE_ROUNDS):
            if self.need <= 0 or self.should_stop():
                return
            offer = self.provider.offer(self.request, self.need, frozenset(tried))
            numbers = [c.number for c in offer.candidates]
            if not numbers:
                self._abort(offer)
                return
            payload = attempt_payload(
                RESERVE, len(numbers), numbers, handle=offer.handle, expires_at=offer.expires_at
            )
            entry = self._journal(payload)
            refusal = self._refuse_reservation(offer)
            if refusal is not None:
                self._abort(offer)
                self.store.journal_end(entry, "aborted", refusal)
                self.result.error = self._error(refusal)
                return
            bought = self._commit(offer)
            if isinstance(bought, OfferExpiredError):
                # Nothing was bought with a lapsed reservation: reserve again, never resend.
                self.store.journal_end(entry, "expired", str(bought))
                tried.update(numbers)
                continue
            if isinstance(bought, Exception):
                self._failed_commit(entry, bought, ", ".join(numbers), single=False)
                return
            detail = f"bought {len(bought)} of {len(numbers)} reserved"
            missing = [n for n in numbers if n not in {o.number for o in bought}]
            in_doubt = None
            if missing and not self.provider.capabilities.short_commit_final:
                in_doubt = attempt_payload(
                    RESERVE, len(missing), missing, offer.handle, offer.expires_at
                )
            self._record(bought, entry, detail, len(numbers), in_doubt)
            return
        self.result.error = self._error(
            f"reservations lapsed {MAX_RESERVE_ROUNDS} times before the buy"
        )

    def _refuse_reservation(self, offer: Offer) -> str | None:
        """Why a reservation must be cancelled instead of bought, if it must."""
        if self.should_stop():
            return "interrupted before the buy: reservation cancelled"
        got = len(offer.candidates)
        if got > self.need:
            return f"the provider reserved {got} numbers for {self.need} asked: cancelled"
        if got < self.need and self.request.options.get("partial") is False:
            return (
                f"only {got} of {self.need} numbers could be reserved and the declaration "
                "sets partial: false: reservation cancelled"
            )
        return self._dearer_than_planned(offer)

    def _dearer_than_planned(self, offer: Offer) -> str | None:
        """A reservation priced above what the plan showed (and the guard rails checked) is
        not bought: the user agreed to the plan's price, not to this one."""
        planned, reserved = self.action.price, offer.price
        if planned is None or reserved is None or planned.currency != reserved.currency:
            return None
        if reserved.monthly <= planned.monthly and reserved.setup <= planned.setup:
            return None
        return (
            f"the reservation costs {reserved.setup} {reserved.currency} setup and "
            f"{reserved.monthly} {reserved.currency} a month per number, more than the plan's "
            f"{planned.setup} and {planned.monthly}: reservation cancelled; run plan again"
        )

    def _abort(self, offer: Offer) -> None:
        if offer.handle is None:
            return
        try:
            self.provider.abort(offer)
        except ProviderError as exc:  # it lapses on its own; say so, do not fail the apply
            self.notes.append(f"cancelling reservation failed ({exc})")

    # ----------------------------------------------------------------- shared steps
    def _error(self, detail: str, cls: type[ProviderError] = ProviderError) -> ProviderError:
        return cls(self.provider.name, f"purchase for {self.action.declaration}", detail)

    def _journal(self, payload: dict) -> int:
        return self.store.journal_begin(
            self.apply_id, BUY_ATTEMPT, self.provider.name, self.action.declaration, payload
        )

    def _failed_commit(self, entry: int, exc: Exception, what: str, single: bool = True) -> None:
        """Sort a failed commit into "surely not bought" and "may have been bought"; what
        the core cannot prove was refused stays open. A refusal proves nothing was bought
        only for one specific number: a commit of several may have bought some first."""
        if isinstance(exc, NumberUnavailableError) and single:
            self.store.journal_end(entry, "refused", str(exc))
            self.refused.append(what)
            return
        if not _surely_not_bought(exc):
            self.store.journal_end(entry, UNKNOWN, str(exc))  # stays open
            self.result.unresolved.append(what)
            self.result.error = self._error(
                f"the purchase of {what} may or may not have happened ({exc}); it is held "
                "open: the next plans wait for the provider's listing to show it (at most "
                f"{_duration(self.provider.settle_seconds)}) instead of buying again",
                OutcomeUnknownError,
            )
            return
        self.store.journal_end(entry, "failed", str(exc))
        self.result.error = exc if isinstance(exc, ProviderError) else self._error(str(exc))

    def _record(
        self,
        bought: Sequence[OwnedNumber],
        entry: int,
        detail: str,
        asked: int,
        in_doubt: dict | None = None,
        *,
        tag: bool = True,
    ) -> list[OwnedNumber]:
        """Save what was bought and close its attempt in one transaction, then tag it (or,
        with `tag=False`, return what still needs its tag, for the caller to write with
        others).
        More than asked is recorded all the same (it is on the account and costs money) and
        reported; the next plan shows the surplus. `in_doubt`: what a short answer leaves
        unknown, kept open in the same transaction (the provider may deliver it later)."""
        action = self.action
        records = [
            ManagedNumber(
                provider=action.provider,
                number=owned.number,
                declaration=action.declaration,
                provider_id=owned.provider_id,
                # the intent, also where the core binds right after the buy: the planner
                # binds from the listing, so a bind that never happened is planned again,
                # and one that landed unrecorded (a kill) leaves no stale record behind
                app=action.app,
                labels=dict(action.labels),
                protect=action.protect,
                status=owned.status,
                created_at=utc_now(),
            )
            for owned in bought
        ]
        if in_doubt is None:
            self.store.record_bought(records, {entry: ("done", detail)})
        else:
            note = f"{detail}; {in_doubt['count']} more may still arrive"
            self.store.record_bought(records, {}, {entry: (in_doubt, note)})
            self.result.unresolved.append(f"{in_doubt['count']} more")
            self.result.error = self._error(
                f"{note}: held open until the provider's listing shows them (at most "
                f"{_duration(self.provider.settle_seconds)}) instead of buying again",
                OutcomeUnknownError,
            )
        self.result.bought.extend(records)
        self.result.owned.extend(bought)
        if records:
            self.on_bought(len(records))
        if len(bought) > asked:
            self.notes.append(
                f"the provider sold {len(bought)} numbers for {asked} asked; the surplus is "
                "managed and the next plan shows it"
            )
        untagged = [o for o in bought if self.request.tag and o.tag != self.request.tag]
        if not tag:
            return untagged
        self._tag(untagged)
        return []

    def _tag(self, owned: list[OwnedNumber]) -> None:
        """Write the ownership tag (and native labels) at once, so a lost state file still
        knows these numbers; a failure is reported and the next plan writes it again."""
        if not owned:
            return
        changes = [(o, self.request.tag, dict(self.request.labels)) for o in owned]
        try:
            outcome = self.provider.set_labels(changes)
        except ProviderError as exc:
            self.notes.append(f"writing the ownership tag failed: {exc}")
            return
        self.notes.extend(
            f"writing the ownership tag of {n} failed: {why}" for n, why in outcome.failed.items()
        )

    def _explain_shortfall(self) -> None:
        result = self.result
        got = f"bought {len(result.bought)} of {self.action.count}"
        if result.error is None and self.need > 0:
            if self.should_stop():
                result.error = self._error(f"{got}: interrupted; the next plan asks for the rest")
            elif self.action.pinned:
                result.error = self._error(
                    f"{got}: refused (taken or not for sale): {', '.join(self.refused)}",
                    NumberUnavailableError,
                )
            else:
                where = self.action.where.describe() if self.action.where else "that place"
                refused = f"; refused (taken or not for sale): {', '.join(self.refused)}"
                result.error = self._error(
                    f"{got}: no more numbers for sale matching {where}"
                    + (refused if self.refused else ""),
                    OutOfStockError,
                )
        if self.notes:
            note = "; ".join(self.notes)
            if result.error is None:
                result.error = self._error(note)
            else:
                result.error = type(result.error)(
                    result.error.provider,
                    result.error.operation,
                    f"{result.error.detail}; {note}",
                    result.error.status,
                )


def _surely_not_bought(exc: Exception) -> bool:
    """Whether a failed commit certainly bought nothing: the request never left, or the
    provider refused it outright (a 4xx, rate limiting and bad credentials included). An
    adapter that says the outcome is unknown is believed whatever status it carries."""
    if isinstance(exc, OutcomeUnknownError):
        return False
    if isinstance(exc, TransientError):
        return not exc.maybe_sent
    if isinstance(exc, AuthError | RateLimitedError | RehearsalError):
        return True
    if isinstance(exc, ProviderError) and exc.status is not None:
        return 400 <= exc.status < 500 and exc.status not in (408, 499)
    return False


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
