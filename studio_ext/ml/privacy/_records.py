"""What ws.privacy hands back besides results: the budget, the query records, a comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class PrivacyQueryRecord:
    """One private query as recorded: never a value, exact or noisy."""

    id: str
    dataset: str
    version: str
    statistic: str
    query: str
    epsilon: float
    delta: float
    caller: str
    created_at: float


@dataclass(kw_only=True)
class PrivacyBudget:
    """A dataset version's budget: total, spent (composed by OpenDP) and remaining."""

    dataset: str
    version: str
    budget_version: str  # the version whose ledger this one spends (its own unless rows carry over)
    epsilon: float
    delta: float
    epsilon_spent: float
    delta_spent: float
    queries: int

    @property
    def epsilon_remaining(self) -> float:
        return max(self.epsilon - self.epsilon_spent, 0.0)

    @property
    def delta_remaining(self) -> float:
        return max(self.delta - self.delta_spent, 0.0)


@dataclass(kw_only=True)
class Comparison:
    """Noisy answers over repeats for several epsilons, beside the exact ones (teaching only).

    ``samples`` has one row per (epsilon, repeat, output): columns epsilon, repeat, output,
    noisy, exact. ``exact`` maps each output to its exact value.
    """

    dataset: str
    query: str
    exact: dict[str, float]
    samples: Any
    note: str = ("This comparison spends no privacy budget because it reveals exact values: "
                 "run it only on data you own.")
    epsilons: list[float] = field(default_factory=list)

    def spread(self) -> Any:
        """Per (epsilon, output): the mean absolute error and the 2.5 / 97.5 % quantiles of the noisy answers."""
        s = self.samples.assign(error=(self.samples["noisy"] - self.samples["exact"]).abs())
        return s.groupby(["epsilon", "output"]).agg(
            exact=("exact", "first"), mean_abs_error=("error", "mean"),
            low=("noisy", lambda x: x.quantile(0.025)), high=("noisy", lambda x: x.quantile(0.975))).reset_index()
