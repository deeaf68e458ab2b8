"""One fault harness for every provider: a mixed plan, a fault, reruns, and a verdict read
from the provider's own records (the emulator's World), never from our state alone.

The mixed plan (BEFORE applied first, then AFTER under the fault): three purchases (`beta`),
three rebinds and a label change (`alpha`), two releases (`old` is dropped) and a protected
declaration (`keep`) that nothing may touch. Providers without apps (MessageMedia) play it
without the `app:` lines.

A case is a provider and a fault: a SIGKILL of the CLI after its K-th mutating request, a
lost or late answer on the first buy, bind or release, or a storm of 429/5xx answers, slow
answers or dropped connections on reads. After the fault the harness reruns `apply` until a
plan shows no changes and judges: every number bought once, no release the plan did not
make, protected and unmanaged numbers untouched, exactly the declared numbers managed with
their apps, and a final plan with no changes. `python -m tests.faults.report` prints the
matrix; tests/faults/test_fault_matrix.py asserts it.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from numbers_iac.emulators.faults import MUTATING_METHODS, Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.emulators.voximplant import MUTATING_METHODS as VOXIMPLANT_MUTATIONS
from numbers_iac.emulators.voximplant import generate_service_account
from numbers_iac.simulation import World
from tests.faults.cli import (
    ACULAB_API_KEY,
    ACULAB_USERNAME,
    AUTH_ID,
    AUTH_TOKEN,
    CALLR_API_KEY,
    MM_API_KEY,
    MM_API_SECRET,
    add_secret,
    cli,
    managed,
    start,
    wait,
)

APPS = ("support-ivr", "sales-bot")
#: seconds an unknown outcome is held before it counts as not bought, in every case
SETTLE = 1.0
#: the client's timeout in the late-answer cases, and how late the provider answers
TIMEOUT, LATE = 2, 3.5


@dataclass(frozen=True)
class Profile:
    """What the harness needs to know about one provider: how to configure and serve it,
    where it sells, and how its requests look (substrings of "METHOD /path")."""

    kind: str
    #: the YAML block of provider `acct` ({base_url}, {timeout}, {settle} are filled in)
    provider_yaml: str
    #: YAML lines that place a declaration (two places with stock)
    place_a: str
    place_b: str
    is_mutation: Callable[[str, str], bool] = lambda method, path: False
    buy: str = ""
    bind: str = ""
    release: str = ""
    read: str = ""
    apps: bool = True
    #: keyword arguments of `serve` (credentials); None: no HTTP (the sandbox)
    serve_options: dict | None = None
    #: settle wait before the first rerun after a kill
    settle_wait: float = SETTLE + 0.2
    #: mutating requests (sandbox: saved mutations) the undisturbed AFTER apply makes
    mutations: int = 0
    #: files the configuration refers to (a key file), written next to it
    files: dict[str, str] = field(default_factory=dict)

    @property
    def http(self) -> bool:
        return self.serve_options is not None


def _plivo_mutation(method: str, path: str) -> bool:
    return method in ("POST", "DELETE")


def _aculab_mutation(method: str, path: str) -> bool:
    if path.startswith(("/tel_purchase", "/tel_delete_numbers")):
        return True
    return path.startswith("/service/") and method in ("PUT", "PATCH", "DELETE")


def _voximplant_mutation(method: str, path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1] in VOXIMPLANT_MUTATIONS


def _callr_mutation(method: str, path: str) -> bool:
    return path.endswith(
        (
            "did/store.reserve",
            "did/store.buy_order",
            "did/store.cancel_order",
            "did/store.cancel_subscription",
            "apps.assign_did",
            "apps.remove_did",
        )
    )


def _messagemedia_mutation(method: str, path: str) -> bool:
    return method in MUTATING_METHODS


#: the Voximplant service-account key the emulator checks JWTs against (made once per run)
VOXIMPLANT_KEY = generate_service_account("1000001")
add_secret(VOXIMPLANT_KEY["private_key"][60:120])
FR_A = "country: FR\n    region: AMIENS, FRANCE"
FR_B = "country: FR\n    region: PARIS, FRANCE"

PROFILES: dict[str, Profile] = {
    "sandbox": Profile(
        "sandbox",
        "  acct:\n    type: sandbox\n    apps: [support-ivr, sales-bot]\n    settle_time: 0\n",
        FR_A,
        FR_B,
        settle_wait=0,
        mutations=5,  # three buys, one batch rebind, one batch release
    ),
    "plivo": Profile(
        "plivo",
        "  acct:\n    type: plivo\n    base_url: {base_url}\n    auth_id: ${{PLIVO_AUTH_ID}}\n"
        "    auth_token: ${{PLIVO_AUTH_TOKEN}}\n    settle_time: {settle}s\n"
        "    timeout: {timeout}\n    rate_limit: [100000, 1]\n    max_retries: 8\n",
        FR_A,
        FR_B,
        _plivo_mutation,
        buy=f"POST /v1/Account/{AUTH_ID}/PhoneNumber/",
        bind=f"POST /v1/Account/{AUTH_ID}/Number/",
        release=f"DELETE /v1/Account/{AUTH_ID}/Number/",
        read=f"GET /v1/Account/{AUTH_ID}/Number/",
        serve_options={"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN},
        mutations=11,  # three buys and their alias writes, three rebinds, two releases
    ),
    "aculab": Profile(
        "aculab",
        "  acct:\n    type: aculab\n    base_url: {base_url}\n    settle_time: {settle}s\n"
        "    timeout: {timeout}\n    max_retries: 8\n",
        "country: GB\n    region: London",
        "country: GB\n    region: Manchester",
        _aculab_mutation,
        buy="POST /tel_purchase",
        bind="PUT /service/v1/inbound/",
        release="POST /tel_delete_numbers",
        read="POST /tel_list_numbers",
        serve_options={"auth_id": ACULAB_USERNAME, "auth_token": ACULAB_API_KEY},
        mutations=5,  # one order, three inbound-service PUTs, one tel_delete_numbers
    ),
    "voximplant": Profile(
        "voximplant",
        "  acct:\n    type: voximplant\n    base_url: {base_url}\n    credentials: vox-key.json\n"
        "    settle_time: {settle}s\n    timeout: {timeout}\n    max_retries: 8\n",
        FR_A,
        FR_B,
        _voximplant_mutation,
        buy="POST /platform_api/AttachPhoneNumber",
        bind="POST /platform_api/BindPhoneNumberToApplication",
        release="POST /platform_api/DeactivatePhoneNumber",
        read="POST /platform_api/GetPhoneNumbers",
        serve_options={"service_account": VOXIMPLANT_KEY},
        mutations=6,  # three attaches, one batched bind of them, one batched rebind, one release
        files={"vox-key.json": json.dumps(VOXIMPLANT_KEY)},
    ),
    "callr": Profile(
        "callr",
        "  acct:\n    type: callr\n    base_url: {base_url}\n    settle_time: {settle}s\n"
        "    timeout: {timeout}\n    max_retries: 8\n",
        "country: FR\n    region: Amiens",
        'country: FR\n    prefix: "472"',
        _callr_mutation,
        buy="did/store.buy_order",
        bind="apps.assign_did",
        release="did/store.cancel_subscription",
        read="did.search",
        serve_options={"auth_token": CALLR_API_KEY},
        mutations=10,  # reserve, buy_order, three assignments, three rebinds, two releases
    ),
    "messagemedia": Profile(
        "messagemedia",
        "  acct:\n    type: messagemedia\n    base_url: {base_url}\n    auth: hmac\n"
        "    settle_time: {settle}s\n    timeout: {timeout}\n    max_retries: 8\n",
        "country: AU\n    type: mobile",
        'country: FR\n    prefix: "322"',
        _messagemedia_mutation,
        buy="POST /v1/messaging/numbers/dedicated/",
        release="DELETE /v1/messaging/numbers/dedicated/",
        read="GET /v1/messaging/numbers/dedicated/assignments",
        apps=False,
        serve_options={"auth_id": MM_API_KEY, "auth_token": MM_API_SECRET},
        mutations=8,  # three assignments, three label PATCHes, two releases
    ),
}


def declarations(profile: Profile, after: bool) -> str:
    """The BEFORE or AFTER `numbers:` block."""

    def app(name: str) -> str:
        return f"    app: {name}\n" if profile.apps else ""

    keep = f"  keep:\n    provider: acct\n    {profile.place_a}\n    quantity: 1\n" + app(
        "support-ivr"
    )
    keep += "    labels: {tier: gold}\n    protect: true\n"
    if not after:
        return (
            "numbers:\n"
            f"  alpha:\n    provider: acct\n    {profile.place_a}\n    quantity: 3\n"
            + app("support-ivr")
            + "    labels: {team: a}\n"
            f"  old:\n    provider: acct\n    {profile.place_a}\n    quantity: 2\n" + keep
        )
    return (
        "numbers:\n"
        f"  alpha:\n    provider: acct\n    {profile.place_a}\n    quantity: 3\n"
        + app("sales-bot")
        + "    labels: {team: b}\n"
        f"  beta:\n    provider: acct\n    {profile.place_b}\n    quantity: 3\n"
        + app("support-ivr")
        + keep
    )


#: what AFTER wants: declaration -> (app, quantity, labels)
WANTED = {
    "alpha": ("sales-bot", 3, {"team": "b"}),
    "beta": ("support-ivr", 3, {}),
    "keep": ("support-ivr", 1, {"tier": "gold"}),
}


@dataclass
class Verdict:
    """What one case did, judged from the provider's records."""

    provider: str
    case: str
    kill_point: int | None = None
    faults_injected: int = 0
    duplicates: int = 0
    unplanned_releases: int = 0
    reruns: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.duplicates and not self.unplanned_releases


class Case:
    """One provider account (a World, served when the provider speaks HTTP) in a directory."""

    def __init__(self, profile: Profile, cwd: Path):
        self.profile = profile
        self.cwd = cwd
        self.world = World.from_seed({"apps": list(APPS), "owned": 2})
        for number in self.world.numbers.values():
            number.added_on = "2020-01-01"  # bought by hand long ago: no order's product
        self.unmanaged = set(self.world.numbers)
        self.server: RunningServer | None = None
        self.account = cwd / ".numbers-iac" / "sandbox-acct.json"
        if profile.http:
            self.server = serve(profile.kind, self.world, **(profile.serve_options or {}))
        else:
            self.world.save(self.account)
        self.kept: dict[str, str | None] = {}
        self.releases: set[str] = set()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def current_world(self) -> World:
        return self.world if self.profile.http else World.load(self.account)

    def write(self, after: bool, timeout: float = 10) -> None:
        block = self.profile.provider_yaml.format(
            base_url=self.server.url if self.server else "", timeout=timeout, settle=SETTLE
        )
        text = f"version: 1\nproviders:\n{block}{declarations(self.profile, after)}"
        (self.cwd / "numbers.yaml").write_text(text)
        for name, content in self.profile.files.items():
            (self.cwd / name).write_text(content)

    def prepare(self, timeout: float = 10) -> None:
        """Apply BEFORE, switch to AFTER and note what its plan releases and protects."""
        self.write(after=False)
        first = cli(self.cwd, "apply", "--auto-approve")
        assert first.returncode == 0, first.stdout + first.stderr
        self.write(after=True, timeout=timeout)
        plan = json.loads(cli(self.cwd, "plan", "--format", "json").stdout)
        self.releases = {a["number"] for a in plan["actions"] if a["kind"] == "release"}
        assert len(self.releases) == 2, plan["actions"]
        world = self.current_world()
        self.kept = {n: world.numbers[n].app_id for n in managed(self.cwd)["keep"]}
        if self.server is not None:
            self.server.app.log.clear()

    def mutations(self) -> int:
        assert self.server is not None
        return sum(1 for r in self.server.app.log if self.profile.is_mutation(r.method, r.path))

    def converge(self, verdict: Verdict, first_wait: float, rounds: int = 4) -> None:
        time.sleep(first_wait)
        for _ in range(rounds):
            applied = cli(self.cwd, "apply", "--auto-approve", "--allow-release")
            verdict.reruns += 1
            plan = cli(self.cwd, "plan", "--detailed-exitcode")
            if plan.returncode == 0 and "unresolved" not in plan.stdout:
                return
            if "unresolved" in plan.stdout:
                time.sleep(SETTLE + 0.2)
        verdict.problems.append(
            f"no convergence after {rounds} reruns: {applied.stdout[-400:]} {plan.stdout[-400:]}"
        )

    def judge(self, verdict: Verdict) -> Verdict:
        world = self.current_world()
        buys = Counter(number for op, number in world.log if op == "buy")
        verdict.duplicates = sum(count - 1 for count in buys.values() if count > 1)
        released = {number for op, number in world.log if op == "release"}
        verdict.unplanned_releases = len(released - self.releases)
        state = managed(self.cwd)
        rows = json.loads(cli(self.cwd, "state", "list", "--format", "json").stdout)["numbers"]
        labels = {row["number"]: row["labels"] for row in rows}
        problems = verdict.problems
        if set(state) != set(WANTED):
            problems.append(f"managed declarations {sorted(state)}")
        for declaration, (app, quantity, wanted_labels) in WANTED.items():
            numbers = state.get(declaration, [])
            if len(numbers) != quantity:
                problems.append(f"{declaration} holds {len(numbers)}, not {quantity}")
            if any(n not in world.numbers for n in numbers):
                problems.append(f"{declaration} manages a number the account lacks")
                continue
            if self.profile.apps:
                app_ids = {world.numbers[n].app_id for n in numbers}
                if numbers and app_ids != {world.app_by_name(app)[0]}:
                    problems.append(f"{declaration} bound to {app_ids}, not {app}")
            if any(labels.get(n) != wanted_labels for n in numbers):
                problems.append(f"{declaration} labels differ: {[labels.get(n) for n in numbers]}")
        for number, app_id in self.kept.items():
            if number not in world.numbers or world.numbers[number].app_id != app_id:
                problems.append(f"protected {number} was touched")
        if not self.unmanaged <= set(world.numbers):
            problems.append(f"unmanaged {sorted(self.unmanaged - set(world.numbers))} released")
        extra = set(world.numbers) - self.unmanaged - {n for ns in state.values() for n in ns}
        if extra:
            problems.append(f"unmanaged numbers bought: {sorted(extra)}")
        final = cli(self.cwd, "plan", "--detailed-exitcode")
        if final.returncode != 0 or "No changes" not in final.stdout:
            problems.append(f"final plan: {final.stdout[-300:]}{final.stderr[-300:]}")
        # the state agrees with the account too: nothing reads as changed outside
        drift = cli(self.cwd, "drift")
        if drift.returncode != 0:
            problems.append(f"drift after converging: {drift.stdout[-400:]}{drift.stderr[-300:]}")
        return verdict


# --------------------------------------------------------------------------- the cases


def count_mutations(profile: Profile, cwd: Path) -> int:
    """How many mutating requests the AFTER apply makes, undisturbed."""
    case = Case(profile, cwd)
    try:
        case.prepare()
        if not profile.http:
            raise ValueError("the sandbox counts its mutations itself (kill_sandbox)")
        applied = cli(cwd, "apply", "--auto-approve", "--allow-release")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        return case.mutations()
    finally:
        case.close()


def kill_at(profile: Profile, cwd: Path, k: int) -> Verdict:
    """SIGKILL the CLI the moment the provider has carried out its k-th mutating request."""
    verdict = Verdict(profile.kind, "kill", kill_point=k, faults_injected=1)
    case = Case(profile, cwd)
    try:
        case.prepare()
        if profile.http:
            victim: dict = {}
            seen = [0]

            def hook(method: str, path: str) -> None:
                if not profile.is_mutation(method, path) or "process" not in victim:
                    return
                seen[0] += 1
                if seen[0] == k and victim["process"].poll() is None:
                    victim["process"].send_signal(signal.SIGKILL)

            assert case.server is not None
            case.server.app.add(Fault(status=None, times=10**6, on_response=hook))
            victim["process"] = process = start(cwd, "apply", "--auto-approve", "--allow-release")
        else:
            process = start(
                cwd,
                "apply",
                "--auto-approve",
                "--allow-release",
                NUMBERS_IAC_SANDBOX_KILL_AFTER=str(k),
            )
        out, err = wait(process)
        if process.returncode != -signal.SIGKILL:
            verdict.problems.append(f"not killed at mutation {k} (exit {process.returncode})")
            verdict.kill_point = None
        time.sleep(0.3)  # calls already sent finish at the provider
        if case.server is not None:
            case.server.app.clear()
        case.converge(verdict, profile.settle_wait)
        return case.judge(verdict)
    finally:
        case.close()


#: the answer faults on the first buy, bind and release: (name, fields of the Fault)
ANSWER_FAULTS = {
    "lost": {"status": 500, "then_fail": True},
    "late": {"status": None, "delay": LATE},
}
#: storms on reads: (name, list of Fault fields)
STORMS = {
    "429 with Retry-After": [{"status": 429, "retry_after": 0.05, "times": 5}],
    "500/502/503/504": [
        {"status": 500, "times": 1},
        {"status": 502, "times": 1},
        {"status": 503, "times": 2},
        {"status": 504, "times": 2},
    ],
    "slow answers": [{"status": None, "delay": 0.5, "times": 4}],
    "dropped connections": [{"status": None, "drop": True, "times": 3}],
}


def answer_fault(profile: Profile, cwd: Path, kind: str, target: str) -> Verdict:
    """A lost or late answer on the first request of `target` (buy, bind, release)."""
    verdict = Verdict(profile.kind, f"{kind} answer on the first {target}")
    case = Case(profile, cwd)
    try:
        match = getattr(profile, target)
        late = kind == "late"
        case.prepare(timeout=TIMEOUT if late else 10)
        assert case.server is not None
        fault = case.server.app.add(Fault(match=match, times=1, **ANSWER_FAULTS[kind]))
        applied = cli(cwd, "apply", "--auto-approve", "--allow-release")
        verdict.faults_injected = fault.fired
        if fault.fired != 1:
            verdict.problems.append(f"no {target} request matched {match!r}")
        if late:
            time.sleep(LATE - TIMEOUT + 0.5)  # the late work lands
        if applied.returncode not in (0, 1):
            verdict.problems.append(f"apply exit {applied.returncode}: {applied.stderr[-300:]}")
        case.converge(verdict, SETTLE + 0.2)
        return case.judge(verdict)
    finally:
        case.close()


def storm(profile: Profile, cwd: Path, name: str) -> Verdict:
    """A storm of faults on the first reads of the AFTER apply."""
    verdict = Verdict(profile.kind, f"reads: {name}")
    case = Case(profile, cwd)
    try:
        case.prepare()
        assert case.server is not None
        faults = [case.server.app.add(Fault(match=profile.read, **f)) for f in STORMS[name]]
        applied = cli(cwd, "apply", "--auto-approve", "--allow-release")
        verdict.faults_injected = sum(f.fired for f in faults)
        if applied.returncode != 0:
            verdict.problems.append(f"apply exit {applied.returncode}: {applied.stderr[-300:]}")
        case.converge(verdict, 0)
        return case.judge(verdict)
    finally:
        case.close()


# --------------------------------------------------------------------------- running


def cases_of(profile: Profile) -> dict[str, list[Callable[[Path], Verdict]]]:
    """Every case of a provider, by family: kills, answers, storms."""
    kills = [(lambda cwd, k=k: kill_at(profile, cwd, k)) for k in range(1, profile.mutations + 1)]
    answers = []
    storms = []
    if profile.http:
        answers = [
            (lambda cwd, kind=kind, target=target: answer_fault(profile, cwd, kind, target))
            for target in ("buy", "bind", "release")
            if getattr(profile, target)
            for kind in ANSWER_FAULTS
        ]
        storms = [(lambda cwd, name=name: storm(profile, cwd, name)) for name in STORMS]
    return {"kills": kills, "answers": answers, "storms": storms}


def run_cases(
    cases: list[Callable[[Path], Verdict]], root: Path, workers: int = 4
) -> list[Verdict]:
    """Run cases side by side, each in its own directory (they mostly wait on the clock and
    on subprocesses, so a few at once cost no more CPU than one after the other)."""
    from concurrent.futures import ThreadPoolExecutor

    def run(indexed: tuple[int, Callable[[Path], Verdict]]) -> Verdict:
        index, case = indexed
        cwd = root / f"case-{index}"
        cwd.mkdir(parents=True)
        return case(cwd)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, enumerate(cases)))
