"""Sweep jobs, as ``azure.ai.ml.sweep``: search spaces, sampling algorithms, early termination policies.

The names, fields and defaults are azure-ai-ml's. A distribution's meaning:

- ``Choice(values)``: one of ``values``; a value that is a dict of distributions is a
  nested space (its keys become hyperparameters when it is chosen);
- ``Randint(upper)``: an integer in ``[0, upper)``;
- ``Uniform(min_value, max_value)``; ``LogUniform``: ``exp(uniform(min_value, max_value))``;
- ``QUniform(min_value, max_value, q)``: ``round(uniform / q) * q``; ``QLogUniform`` likewise
  over ``exp(uniform)``;
- ``Normal(mu, sigma)``; ``LogNormal``: ``exp(normal)``; ``QNormal``/``QLogNormal``: rounded to ``q``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio_ext.entities._job import CommandJob, Job


@dataclass
class SweepDistribution:
    """Base of the search-space distributions."""

    type: str = field(default="", kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        if isinstance(self, Choice):
            out["values"] = [{k: d.to_dict() if isinstance(d, SweepDistribution) else d for k, d in v.items()}
                             if isinstance(v, dict) else v for v in self.values]
        return out


@dataclass
class Choice(SweepDistribution):
    values: list[Any] = field(default_factory=list)
    type: str = field(default="choice", kw_only=True)


@dataclass
class Randint(SweepDistribution):
    upper: int = 0
    type: str = field(default="randint", kw_only=True)


@dataclass
class Uniform(SweepDistribution):
    min_value: float = 0.0
    max_value: float = 1.0
    type: str = field(default="uniform", kw_only=True)


@dataclass
class LogUniform(SweepDistribution):
    min_value: float = 0.0
    max_value: float = 1.0
    type: str = field(default="loguniform", kw_only=True)


@dataclass
class QUniform(SweepDistribution):
    min_value: float = 0.0
    max_value: float = 1.0
    q: float = 1
    type: str = field(default="quniform", kw_only=True)


@dataclass
class QLogUniform(SweepDistribution):
    min_value: float = 0.0
    max_value: float = 1.0
    q: float = 1
    type: str = field(default="qloguniform", kw_only=True)


@dataclass
class Normal(SweepDistribution):
    mu: float = 0.0
    sigma: float = 1.0
    type: str = field(default="normal", kw_only=True)


@dataclass
class LogNormal(SweepDistribution):
    mu: float = 0.0
    sigma: float = 1.0
    type: str = field(default="lognormal", kw_only=True)


@dataclass
class QNormal(SweepDistribution):
    mu: float = 0.0
    sigma: float = 1.0
    q: float = 1
    type: str = field(default="qnormal", kw_only=True)


@dataclass
class QLogNormal(SweepDistribution):
    mu: float = 0.0
    sigma: float = 1.0
    q: float = 1
    type: str = field(default="qlognormal", kw_only=True)


DISTRIBUTIONS: dict[str, type[SweepDistribution]] = {name: type(obj) for name, obj in (
    ("choice", Choice()), ("randint", Randint()), ("uniform", Uniform()), ("loguniform", LogUniform()),
    ("quniform", QUniform()), ("qloguniform", QLogUniform()), ("normal", Normal()), ("lognormal", LogNormal()),
    ("qnormal", QNormal()), ("qlognormal", QLogNormal()))}


def distribution_from_dict(data: dict[str, Any]) -> SweepDistribution:
    """A distribution from its v2 YAML mapping (``{"type": "uniform", "min_value": 0, "max_value": 1}``)."""
    kind = str(data.get("type", "")).lower()
    cls = DISTRIBUTIONS.get(kind)
    if cls is None:
        from studio_ext.errors import InvalidInput

        raise InvalidInput(f"The search space type {kind!r} is not one of {', '.join(DISTRIBUTIONS)}.")
    fields = {k: v for k, v in data.items() if k != "type"}
    if cls is Choice:
        fields["values"] = [{k: distribution_from_dict(d) if isinstance(d, dict) and "type" in d else d
                             for k, d in v.items()} if isinstance(v, dict) else v for v in fields.get("values", [])]
    return cls(**fields)


# -- sampling ------------------------------------------------------------------------------------
@dataclass
class SamplingAlgorithm:
    type: str = field(default="", kw_only=True)


@dataclass
class RandomSamplingAlgorithm(SamplingAlgorithm):
    """Random sampling: ``rule`` is ``"random"`` or ``"sobol"``; ``seed`` makes the trials repeatable."""

    rule: str | None = None
    seed: int | None = None
    logbase: float | str | None = None
    type: str = field(default="random", kw_only=True)


@dataclass
class GridSamplingAlgorithm(SamplingAlgorithm):
    type: str = field(default="grid", kw_only=True)


@dataclass
class BayesianSamplingAlgorithm(SamplingAlgorithm):
    type: str = field(default="bayesian", kw_only=True)


def sampling_from(value: str | SamplingAlgorithm | None) -> SamplingAlgorithm:
    """A sampling algorithm from azure-ai-ml's string shorthand (``"random"``, ``"grid"``, ``"bayesian"``)."""
    if isinstance(value, SamplingAlgorithm):
        return value
    kind = str(value or "random").lower()
    known = {"random": RandomSamplingAlgorithm, "grid": GridSamplingAlgorithm, "bayesian": BayesianSamplingAlgorithm}
    if kind not in known:
        from studio_ext.errors import InvalidInput

        raise InvalidInput(f"The sampling_algorithm must be 'random', 'grid' or 'bayesian'. Got {value!r} instead.")
    return known[kind]()


# -- early termination ---------------------------------------------------------------------------
@dataclass
class EarlyTerminationPolicy:
    delay_evaluation: int = 0
    evaluation_interval: int = 0
    type: str = field(default="", kw_only=True)


@dataclass
class BanditPolicy(EarlyTerminationPolicy):
    """Stop a trial whose metric is not within ``slack_factor`` (a ratio) or ``slack_amount`` of the best."""

    slack_amount: float = 0
    slack_factor: float = 0
    type: str = field(default="bandit", kw_only=True)


@dataclass
class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stop a trial whose best metric is worse than the median of the running averages of all trials."""

    evaluation_interval: int = 1
    type: str = field(default="median_stopping", kw_only=True)


@dataclass
class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """Stop the lowest ``truncation_percentage`` percent of trials at each evaluation interval."""

    truncation_percentage: int = 0
    type: str = field(default="truncation_selection", kw_only=True)


POLICIES: dict[str, type[EarlyTerminationPolicy]] = {
    "bandit": BanditPolicy, "median_stopping": MedianStoppingPolicy, "truncation_selection": TruncationSelectionPolicy,
}


def policy_from_dict(data: dict[str, Any] | None) -> EarlyTerminationPolicy | None:
    if not data:
        return None
    kind = str(data.get("type", "")).lower()
    cls = POLICIES.get(kind)
    if cls is None:
        from studio_ext.errors import InvalidInput

        raise InvalidInput(f"The early_termination type {kind!r} is not one of {', '.join(POLICIES)}.")
    return cls(**{k: v for k, v in data.items() if k != "type" and v is not None})


@dataclass
class Objective:
    """What the sweep optimises: a metric the trials log with MLflow, and ``goal`` maximize or minimize."""

    goal: str = "maximize"
    primary_metric: str = ""


@dataclass
class SweepJobLimits:
    """``timeout`` and ``trial_timeout`` are seconds, as in azure-ai-ml."""

    max_concurrent_trials: int | None = None
    max_total_trials: int | None = None
    timeout: int | None = None
    trial_timeout: int | None = None


@dataclass(repr=False)
class SweepJob(Job):
    """A hyperparameter sweep: ``trial`` run once per sampled point of ``search_space``.

    Its trials are child jobs (``ws.jobs.list(parent_job_name=sweep.name)``); the best one is
    ``best_child_run_id``, with its hyperparameters in ``best_hyperparameters``.
    """

    trial: CommandJob | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, SweepDistribution] = field(default_factory=dict)
    sampling_algorithm: SamplingAlgorithm | str = "random"
    objective: Objective | None = None
    limits: SweepJobLimits = field(default_factory=SweepJobLimits)
    early_termination: EarlyTerminationPolicy | None = None
    type: str = "sweep"
    best_child_run_id: str | None = None
    best_hyperparameters: dict[str, Any] = field(default_factory=dict)
    best_metric: float | None = None
    trial_count: int = 0

    def set_limits(self, *, max_concurrent_trials: int | None = None, max_total_trials: int | None = None,
                   timeout: int | None = None, trial_timeout: int | None = None) -> None:
        """Set limits, as azure-ai-ml's; a limit left None keeps its value."""
        for key, value in (("max_concurrent_trials", max_concurrent_trials), ("max_total_trials", max_total_trials),
                           ("timeout", timeout), ("trial_timeout", trial_timeout)):
            if value is not None:
                setattr(self.limits, key, value)

    def set_objective(self, *, goal: str | None = None, primary_metric: str | None = None) -> None:
        self.objective = self.objective or Objective()
        if goal is not None:
            self.objective.goal = goal
        if primary_metric is not None:
            self.objective.primary_metric = primary_metric

    @property
    def early_termination_policy(self) -> EarlyTerminationPolicy | None:
        return self.early_termination
