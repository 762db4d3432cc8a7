"""The search: FLAML's cost-frugal searchers driven by our own ask/tell loop.

One ``flaml.tune`` CFO searcher per learner proposes configurations, its first
proposal being the learner's own defaults (strong baselines come first). FLAML
(with MLflow, which it imports) takes seconds to import, so it loads in a thread
while the defaults run; each searcher is built when its learner needs a second
configuration and is told how its default went. The
loop decides which learner to ask next (cheap learners close to the best get more
trials), hands trials to a :class:`TrialRunner` (this process, one at a time, or a
Dask client, several at once), and tells each searcher how its trials went. It
stops at a hard deadline, after ``max_trials``, at ``exit_score``, or when the
best score has stopped improving (early termination).

Two rules keep the budget for configurations that can still teach something:

* **Plateau.** A learner whose last :data:`PLATEAU_TRIALS` finished trials did not beat
  its own best by more than noise (:func:`_tolerance`: a relative 1e-4, ties such as
  ElasticNet scoring 0.17023 over a range of ``alpha``) stops taking trials while another
  learner is still improving; :attr:`Search.plateaued` records which and when, and the
  engine writes it to the run's notes. When every learner has plateaued the search
  stops, saying so.
* **No duplicates.** A configuration a learner already ran (the same values, after
  rounding floats to 10 significant digits) is never run again: its searcher is told the
  earlier outcome at once and asked for another, and the skip counts toward the plateau.
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from studio_ext.ml.automl.learners import Learner
from studio_ext.ml.automl.trial import TrialData, TrialResult, TrialSpec, TrialStatus, run_trial

__all__ = ["DaskRunner", "InProcessRunner", "Search", "SearchLimits", "TrialRunner"]

EARLY_STOP_TRIALS = 60  # no improvement in this many trials ...
EARLY_STOP_FRACTION = 0.5  # ... and over this share of the search time: stop
WATCHDOG_GRACE = 2.0  # seconds past its deadline before a trial is given up
PLATEAU_TRIALS = 8  # a learner whose last this many trials tie with its best (within noise) gives way
DUPLICATE_ASKS = 25  # a searcher that proposes only configurations already run this many times is exhausted
POLL_SECONDS = 0.02
WORKERS_REFRESH_SECONDS = 0.5


@dataclass
class SearchLimits:
    """When the search stops. ``deadline`` is absolute (epoch seconds)."""

    deadline: float
    max_trials: int = 1000
    max_concurrent_trials: int = 1
    trial_timeout: float | None = None  # seconds
    exit_score: float | None = None
    early_termination: bool = True
    n_jobs: int = -1
    first_trial_seconds: float = 2.0  # the first trial runs even past the deadline, for this long at most
    max_trial_seconds: float | None = None  # later trials stop growing (trees, rounds) after this long


class TrialRunner(Protocol):
    """Where trials run: ``slots`` at a time."""

    slots: int

    def submit(self, spec: TrialSpec) -> Any: ...

    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...

    def result(self, handle: Any) -> TrialResult: ...

    def abandon(self, handle: Any) -> None: ...

    def close(self) -> None: ...


class InProcessRunner:
    """Trials one after another in this process (their deadlines keep them on time)."""

    slots = 1

    def __init__(self, data: TrialData) -> None:
        self.data = data

    def submit(self, spec: TrialSpec) -> TrialResult:
        return run_trial(self.data, spec)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        return list(handles)

    def result(self, handle: TrialResult) -> TrialResult:
        return handle

    def abandon(self, handle: Any) -> None:
        """Nothing runs in the background here."""

    def close(self) -> None:
        """Nothing to release."""


class DaskRunner:
    """Trials as tasks on a Dask cluster: the data is scattered to the workers once.

    Each trial goes to a worker with no trial of this search running: Dask's own
    placement may queue two trials on one worker while another idles. ``slots`` is
    how many trials may run now: up to ``width``, one per worker, so a cluster that
    is still adding nodes gets more trials as they join.
    """

    def __init__(self, client: Any, data: TrialData, slots: int, workers: list[str] | None = None) -> None:
        self.client = client
        self.width = max(1, slots)
        self.workers = workers
        self._placed: dict[str, str] = {}  # running trial's key -> its worker
        self._seen: tuple[float, list[str]] = (0.0, [])
        self._data = client.scatter(data, broadcast=True, workers=workers, hash=False)

    @property
    def slots(self) -> int:
        return max(1, min(self.width, len(self._workers())))

    def _workers(self) -> list[str]:
        if self.workers:
            return self.workers
        if time.monotonic() - self._seen[0] > WORKERS_REFRESH_SECONDS:  # one scheduler round trip at most
            self._seen = (time.monotonic(), list(self.client.scheduler_info(n_workers=-1)["workers"]))
        return self._seen[1]

    def submit(self, spec: TrialSpec) -> Any:
        taken = set(self._placed.values())
        worker = next((w for w in self._workers() if w not in taken), None)
        placement = {"workers": [worker], "allow_other_workers": False} if worker else {}
        future = self.client.submit(run_trial, self._data, spec, pure=False,
                                    key=f"automl-trial-{spec.trial_id}-{time.time_ns()}", **placement)
        if worker:
            self._placed[future.key] = worker
        return future

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        # distributed.wait needs a default client; this one is private to the search, so poll.
        deadline = time.monotonic() + max(timeout, 0.01)
        while True:
            done = [h for h in handles if h.done()]
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(POLL_SECONDS)

    def result(self, handle: Any) -> TrialResult:
        self._placed.pop(handle.key, None)
        return handle.result()

    def abandon(self, handle: Any) -> None:
        self._placed.pop(handle.key, None)
        handle.cancel()

    def close(self) -> None:
        self.client.cancel([self._data], force=True)


@dataclass
class _LearnerState:
    learner: Learner
    default: dict[str, Any]
    make_searcher: Callable[[], Any]
    searcher: Any = None  # built on first need (see :meth:`Search._searcher`)
    default_id: str | None = None  # the default's trial id, asked before the searcher existed
    default_outcome: dict[str, Any] | None = None  # how the default went, told to the searcher once built
    default_done: bool = False
    trials: int = 0
    seconds: float = 0.0
    best_loss: float = math.inf
    improved_at_seconds: float = 0.0
    exhausted: bool = False
    since_improved: int = 0  # finished trials (and skipped duplicates) since the best improved beyond noise
    plateaued: bool = False
    seen: dict[tuple, dict[str, Any] | None] = field(default_factory=dict)  # config key -> its outcome
    aliases: dict[str, str] = field(default_factory=dict)  # our trial id -> the id its searcher knows


@dataclass
class _Running:
    spec: TrialSpec
    handle: Any
    state: _LearnerState
    flaml_id: str


@dataclass
class Search:
    """The ask/tell loop. ``run()`` returns every trial, in the order they ended."""

    data: TrialData
    learners: list[Learner]
    limits: SearchLimits
    runner: TrialRunner
    on_trial: Callable[[TrialResult], None] | None = None
    seed: int = 0
    results: list[TrialResult] = field(default_factory=list)
    stop_reason: str = ""
    #: learner -> why it stopped taking trials (the plateau rule), in the order it happened.
    plateaued: dict[str, str] = field(default_factory=dict)
    duplicates_skipped: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        n, d = self.data.X.shape
        self._states = [self._state(lr, n, d) for lr in self.learners]
        self._pending_defaults = list(self._states)
        self._running: list[_Running] = []
        self._next_id = 1
        self._best = math.inf
        self._best_at_trial = 0
        self._start = time.time()
        if "flaml.tune.searcher" not in sys.modules:  # load FLAML beside the first trials
            threading.Thread(target=_import_flaml, name="automl-flaml-import", daemon=True).start()

    def _state(self, learner: Learner, n: int, d: int) -> _LearnerState:
        train_rows = len(self.data.splits[0][0])
        space = learner.space(train_rows, d, self.data.task)
        default = {k: v for k, v in learner.default(train_rows, d, self.data.task).items() if k in space}
        low_cost = {k: v for k, v in learner.low_cost.items() if k in space}

        def make_searcher() -> Any:
            from flaml.tune.searcher import CFO

            return CFO(space=space, metric="loss", mode="min", low_cost_partial_config=low_cost or None,
                       points_to_evaluate=[default], seed=self.seed)

        return _LearnerState(learner=learner, default=default, make_searcher=make_searcher)

    @staticmethod
    def _searcher(state: _LearnerState) -> Any:
        """The learner's CFO searcher, built now if need be and told about the default it proposes first."""
        if state.searcher is None:
            state.searcher = state.make_searcher()
            if state.default_id is not None:
                state.searcher.suggest(state.default_id)  # the default, already run (or running)
                if state.default_done:
                    _tell(state.searcher, state.default_id, state.default_outcome)
        return state.searcher

    @property
    def best(self) -> TrialResult | None:
        done = [r for r in self.results if r.ok]
        return min(done, key=lambda r: (not r.complete, r.loss, r.trial_id)) if done else None

    def run(self) -> list[TrialResult]:
        try:
            while True:
                reason = self._should_stop()
                if reason and not self._running:
                    self.stop_reason = reason
                    break
                if not reason:
                    self._fill_slots()
                if not self._running:
                    if self._should_stop():
                        continue
                    self.stop_reason = ("every learner's search space is exhausted"
                                        if all(s.exhausted for s in self._states)
                                        else "the time budget is spent (no algorithm's next trial fits in what is left)")
                    break
                self._collect()
        finally:
            for item in self._running:
                self.runner.abandon(item.handle)
        return self.results

    # -- asking ----------------------------------------------------------------------------
    def _fill_slots(self) -> None:
        while len(self._running) < self.runner.slots and not self._should_stop():
            picked = self._ask()
            if picked is None:
                return
            state, flaml_id, config = picked
            now = time.time()
            deadline = self.limits.deadline
            if self.limits.max_trial_seconds:  # no single trial may take most of the budget
                deadline = min(deadline, now + self.limits.max_trial_seconds)
            if not self._has_result():  # without one finished trial there is no model at all
                deadline = max(deadline, now + self.limits.first_trial_seconds)
            if self.limits.trial_timeout:
                deadline = min(deadline, now + self.limits.trial_timeout)
            spec = TrialSpec(trial_id=self._next_id, learner=state.learner.name, config=_plain(config),
                             deadline=deadline, n_jobs=self.limits.n_jobs)
            self._next_id += 1
            handle = self.runner.submit(spec)
            self._running.append(_Running(spec=spec, handle=handle, state=state, flaml_id=flaml_id))

    def _ask(self) -> tuple[_LearnerState, str, dict[str, Any]] | None:
        tried: set[int] = set()
        while True:
            state = self._choose(tried)
            if state is None:
                return None
            tried.add(id(state))
            flaml_id = f"{state.learner.name}-{state.trials + len(tried)}-{self._next_id}"
            if state.searcher is None and state.default_id is None:  # the default needs no searcher yet
                state.default_id = flaml_id
                state.seen[_config_key(state.default)] = None
                return state, flaml_id, dict(state.default)
            config = self._suggest_new(state, flaml_id)
            if config is None:
                if not any(r.state is state for r in self._running):
                    state.exhausted = True
                continue
            return state, flaml_id, config

    def _suggest_new(self, state: _LearnerState, flaml_id: str) -> dict[str, Any] | None:
        """The searcher's next configuration that this learner has not run yet (None: it has no new one)."""
        searcher = self._searcher(state)
        for attempt in range(DUPLICATE_ASKS):
            trial_id = flaml_id if attempt == 0 else f"{flaml_id}-dup{attempt}"
            config = searcher.suggest(trial_id)
            if config is None:
                return None
            key = _config_key(config)
            if key not in state.seen:
                state.seen[key] = None
                return config if attempt == 0 else self._rename(state, trial_id, flaml_id, config)
            # Run before: tell the searcher what it gave, without spending a trial on it.
            _tell(searcher, trial_id, state.seen[key])
            self.duplicates_skipped += 1
            self._no_improvement(state)
            if state.plateaued:
                return None
        return None

    @staticmethod
    def _rename(state: _LearnerState, trial_id: str, flaml_id: str, config: dict[str, Any]) -> dict[str, Any]:
        # The running item is known by flaml_id; the searcher knows this proposal as trial_id.
        state.aliases[flaml_id] = trial_id
        return config

    def _choose(self, tried: set[int]) -> _LearnerState | None:
        """Defaults first, by priority; then learners weighted by closeness to the best and speed."""
        while self._pending_defaults:
            state = self._pending_defaults.pop(0)
            if id(state) not in tried and not state.exhausted:
                return state
        live = [s for s in self._states if not s.exhausted and id(s) not in tried and self._affordable(s)]
        if not live:
            return None
        improving = [s for s in live if not s.plateaued]
        if not improving:
            return None  # every learner left has plateaued: _should_stop says so
        live = improving
        finished = [s for s in live if s.trials]
        if not finished:
            return live[0]
        losses = [r.loss for r in self.results if r.ok]
        spread = (float(np.median(losses)) - self._best) if losses else 0.0
        weights = []
        for s in live:
            gap = (s.best_loss - self._best) / spread if spread > 0 and math.isfinite(s.best_loss) else (
                0.0 if math.isfinite(s.best_loss) else 5.0)
            mean_cost = s.seconds / s.trials if s.trials else 1.0
            stale = s.seconds - s.improved_at_seconds
            expected_cost = max(2 * mean_cost, stale, 1e-3)
            weights.append(math.exp(-3.0 * min(gap, 10.0)) / expected_cost)
        return self._rng.choices(live, weights=weights)[0]

    def _affordable(self, state: _LearnerState) -> bool:
        """A learner whose typical trial cannot end before the deadline is not started again."""
        if not state.trials:
            return True
        mean_cost = state.seconds / state.trials
        return time.time() + 0.5 * mean_cost < self.limits.deadline

    # -- telling ---------------------------------------------------------------------------
    def _collect(self) -> None:
        timeout = max(min(self.limits.deadline - time.time(), 1.0), 0.05)
        done = self.runner.wait([r.handle for r in self._running], timeout)
        finished = [r for r in self._running if any(r.handle is h for h in done)]
        now = time.time()
        for item in list(self._running):
            if item in finished:
                continue
            if now > item.spec.deadline + WATCHDOG_GRACE:  # a trial that ignores its deadline
                self.runner.abandon(item.handle)
                self._running.remove(item)
                self._record(item, TrialResult(
                    trial_id=item.spec.trial_id, learner=item.spec.learner, config=item.spec.config,
                    status=TrialStatus.CANCELED, started=item.spec.deadline - (self.limits.trial_timeout or 0),
                    ended=now, error="The trial overran its deadline and was abandoned."))
        for item in finished:
            self._running.remove(item)
            try:
                result = self.runner.result(item.handle)
            except Exception as exc:  # noqa: BLE001 - a worker lost mid-trial: the trial failed, the search goes on
                result = TrialResult(trial_id=item.spec.trial_id, learner=item.spec.learner,
                                     config=item.spec.config, status=TrialStatus.FAILED, started=now, ended=now,
                                     error=f"{type(exc).__name__}: {exc}")
            self._record(item, result)

    def _record(self, item: _Running, result: TrialResult) -> None:
        state = item.state
        state.trials += 1
        state.seconds += result.duration
        outcome = {"loss": result.loss, "config": item.spec.config,
                   "time_total_s": max(result.duration, 1e-3)} if result.ok else None
        if state.searcher is None and item.flaml_id == state.default_id:
            state.default_done, state.default_outcome = True, outcome  # told when the searcher is built
        else:
            _tell(state.searcher, state.aliases.pop(item.flaml_id, item.flaml_id), outcome)
        state.seen[_config_key(item.spec.config)] = outcome
        if result.ok:
            if result.loss < state.best_loss - _tolerance(state.best_loss):
                state.since_improved = 0
                state.improved_at_seconds = state.seconds
            else:
                self._no_improvement(state)
            if result.loss < state.best_loss:
                state.best_loss = result.loss
            if result.loss < self._best - 1e-12:
                self._best = result.loss
                self._best_at_trial = len(self.results) + 1
        self.results.append(result)
        if self.on_trial is not None:
            self.on_trial(result)

    def _no_improvement(self, state: _LearnerState) -> None:
        state.since_improved += 1
        if state.since_improved >= PLATEAU_TRIALS and not state.plateaued and math.isfinite(state.best_loss):
            state.plateaued = True
            metric = self.data.metric
            best = -state.best_loss if metric.higher_is_better else state.best_loss
            self.plateaued[state.learner.name] = (
                f"{state.learner.name} plateaued after {state.trials} trials: its last {PLATEAU_TRIALS} did not "
                f"improve its best {metric.value} ({best:.4g}) beyond noise; the budget went to other algorithms")

    def _has_result(self) -> bool:
        return any(r.ok for r in self.results)

    def _should_stop(self) -> str:
        now = time.time()
        if now >= self.limits.deadline and (self._has_result() or self._running or self.results):
            return "the time budget is spent"
        if len(self.results) + len(self._running) >= self.limits.max_trials:
            return f"max_trials ({self.limits.max_trials}) reached"
        if self.limits.exit_score is not None and math.isfinite(self._best):
            if -self._best >= self.limits.exit_score if self.data.metric.higher_is_better else \
                    self._best <= self.limits.exit_score:
                return f"exit_score ({self.limits.exit_score}) reached"
        if self._states and all(st.plateaued or st.exhausted for st in self._states) and self.plateaued:
            return "every algorithm's trials stopped improving (plateau rule)"
        if self.limits.early_termination and len(self.results) - self._best_at_trial >= EARLY_STOP_TRIALS:
            used = (now - self._start) / max(self.limits.deadline - self._start, 1e-9)
            if used >= EARLY_STOP_FRACTION:
                return f"no improvement in the last {len(self.results) - self._best_at_trial} trials"
        return ""


def _tolerance(best_loss: float) -> float:
    """How much a loss must beat ``best_loss`` by to count as an improvement rather than noise."""
    return max(1e-4 * abs(best_loss), 1e-9) if math.isfinite(best_loss) else 0.0


def _config_key(config: dict[str, Any]) -> tuple:
    """A configuration's identity: its values, floats rounded to 10 significant digits."""
    def norm(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float):
            return float(f"{value:.10g}")
        if isinstance(value, dict):
            return tuple(sorted((k, norm(v)) for k, v in value.items()))
        if isinstance(value, list | tuple):
            return tuple(norm(v) for v in value)
        return value
    return tuple(sorted((k, norm(v)) for k, v in config.items()))


def _tell(searcher: Any, flaml_id: str, outcome: dict[str, Any] | None) -> None:
    """Report a finished trial to its searcher (None: it failed or was canceled)."""
    if outcome is None:
        searcher.on_trial_complete(flaml_id, None, error=True)
    else:
        searcher.on_trial_complete(flaml_id, outcome)


def _import_flaml() -> None:
    try:
        import flaml.tune.searcher  # noqa: F401
    except Exception:  # noqa: BLE001 - the searcher's own import will raise it where it matters
        pass


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars to Python ones, so configs log and serialize cleanly."""
    out = {}
    for key, value in config.items():
        out[key] = value.item() if hasattr(value, "item") else value
    return out
