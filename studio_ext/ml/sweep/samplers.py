"""Samplers: grid, random (seeded, ``random`` or ``sobol``) and Bayesian (Optuna's TPE through ask/tell).

A sampler hands out points (``suggest()``: a dict of hyperparameters, or None when it has
no more) and hears back how each went (``tell(index, value, state)``). ``restore`` replays
the trials of a sweep that was interrupted, so a restarted sweep continues where it was:
grid and random advance past the points already given (the seed is fixed at submit),
Bayesian adds the finished trials to a fresh study.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any

from studio_ext.entities._sweep import (
    BayesianSamplingAlgorithm,
    Choice,
    EarlyTerminationPolicy,
    GridSamplingAlgorithm,
    QUniform,
    RandomSamplingAlgorithm,
    SamplingAlgorithm,
    Uniform,
)
from studio_ext.errors import InvalidInput
from studio_ext.ml.sweep import space as spaces

COMPLETED, FAILED, CANCELED = "Completed", "Failed", "Canceled"


class Sampler(abc.ABC):
    @abc.abstractmethod
    def suggest(self) -> dict[str, Any] | None:
        """The next trial's hyperparameters, or None when the sampler has no more to give."""

    def tell(self, index: int, value: float | None, state: str) -> None:  # noqa: B027 - grid and random ignore results
        """How trial ``index`` (0-based, in suggestion order) ended; its primary metric when it has one."""

    def restore(self, history: Sequence[tuple[dict[str, Any], float | None, str | None]]) -> None:
        """Replay trials already given: (hyperparameters, metric, state or None while running)."""
        for i, (_, value, state) in enumerate(history):
            self.suggest()
            if state is not None:
                self.tell(i, value, state)

    def size(self) -> int | None:
        """How many distinct points it can give (grid), None when unbounded."""
        return None


class GridSampler(Sampler):
    def __init__(self, space: Mapping[str, Any]) -> None:
        self.points = list(spaces.grid(space))
        self.given = 0

    def suggest(self) -> dict[str, Any] | None:
        if self.given >= len(self.points):
            return None
        self.given += 1
        return dict(self.points[self.given - 1])

    def size(self) -> int:
        return len(self.points)


class RandomSampler(Sampler):
    def __init__(self, space: Mapping[str, Any], seed: int, rule: str = "random") -> None:
        import numpy as np

        self.space = space
        self.dims = [d.path for d in spaces.dimensions(space)]
        self.rule = (rule or "random").lower()
        if self.rule not in ("random", "sobol"):
            raise InvalidInput(f"RandomSamplingAlgorithm(rule=...) must be 'random' or 'sobol'. Got {rule!r} instead.")
        if self.rule == "sobol":
            from scipy.stats import qmc

            self._sobol = qmc.Sobol(d=len(self.dims), scramble=True, seed=seed)
        else:
            self._rng = np.random.default_rng(seed)

    def suggest(self) -> dict[str, Any] | None:
        if self.rule == "sobol":
            import warnings

            with warnings.catch_warnings():  # Sobol warns when n is not a power of two; the sequence is still balanced
                warnings.simplefilter("ignore")
                u = self._sobol.random(1)[0]
        else:
            u = self._rng.random(len(self.dims))
        return spaces.point(self.space, dict(zip(self.dims, (float(x) for x in u), strict=True)))


class BayesianSampler(Sampler):
    """Optuna's TPE sampler through the ask/tell interface, on Azure's Bayesian spaces (choice, uniform, quniform)."""

    def __init__(self, space: Mapping[str, Any], seed: int, goal: str) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.distributions = optuna_distributions(space)
        direction = "maximize" if goal.lower() == "maximize" else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
        self.trials: dict[int, Any] = {}
        self.given = 0

    def suggest(self) -> dict[str, Any] | None:
        trial = self.study.ask(self.distributions)
        self.trials[self.given] = trial
        self.given += 1
        return {name: _plain(trial.params[name]) for name in self.space}

    def tell(self, index: int, value: float | None, state: str) -> None:
        import optuna

        trial = self.trials.pop(index, None)
        if trial is None:
            return
        if state == COMPLETED and value is not None and math.isfinite(value):
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def restore(self, history: Sequence[tuple[dict[str, Any], float | None, str | None]]) -> None:
        import optuna

        for params, value, state in history:
            self.given += 1
            if state == COMPLETED and value is not None and math.isfinite(value):
                self.study.add_trial(optuna.trial.create_trial(
                    params=dict(params), distributions=self.distributions, value=value))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def optuna_distributions(space: Mapping[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, Choice):
            out[name] = CategoricalDistribution(list(d.values))
        elif isinstance(d, QUniform):
            low, high = math.ceil(d.min_value / d.q) * d.q, math.floor(d.max_value / d.q) * d.q
            if float(d.q).is_integer() and float(low).is_integer():
                from optuna.distributions import IntDistribution

                out[name] = IntDistribution(int(low), int(high), step=int(d.q))
            else:
                out[name] = FloatDistribution(low, high, step=d.q)
        elif isinstance(d, Uniform):
            out[name] = FloatDistribution(d.min_value, d.max_value)
        else:
            out[name] = d
    return out


def check(algorithm: SamplingAlgorithm, space: Mapping[str, Any],
          policy: EarlyTerminationPolicy | None) -> None:
    """Refuse what Azure refuses, with the reason: grid over a continuous space, Bayesian beyond its limits."""
    spaces.check(space)
    if isinstance(algorithm, GridSamplingAlgorithm):
        next(spaces.grid(space), None)
    if isinstance(algorithm, BayesianSamplingAlgorithm):
        if policy is not None:
            raise InvalidInput(
                "Bayesian sampling does not support early termination (each trial informs the next, so none is "
                f"stopped early). Remove the {type(policy).__name__}, or use sampling_algorithm='random'.")
        for name, d in space.items():
            if not isinstance(d, (Choice, Uniform, QUniform)) or type(d) not in (Choice, Uniform, QUniform):
                raise InvalidInput(
                    f"Bayesian sampling takes only Choice, Uniform and QUniform search spaces; {name!r} is "
                    f"{type(d).__name__}. Use one of those for it, or sampling_algorithm='random'.")
            if isinstance(d, Choice) and any(isinstance(v, (Mapping, list)) for v in d.values):
                raise InvalidInput(f"Bayesian sampling does not take a nested Choice ({name!r} holds dicts). "
                                   "Use sampling_algorithm='random' or 'grid'.")


def make(algorithm: SamplingAlgorithm, space: Mapping[str, Any], *, seed: int, goal: str = "maximize") -> Sampler:
    """The sampler for ``algorithm`` over ``space`` (checked first)."""
    if isinstance(algorithm, GridSamplingAlgorithm):
        return GridSampler(space)
    if isinstance(algorithm, BayesianSamplingAlgorithm):
        return BayesianSampler(space, seed, goal)
    if isinstance(algorithm, RandomSamplingAlgorithm):
        return RandomSampler(space, algorithm.seed if algorithm.seed is not None else seed, algorithm.rule or "random")
    raise InvalidInput(f"Unknown sampling algorithm {algorithm!r}: use 'random', 'grid' or 'bayesian'.")
