"""Early termination, as Azure ML defines its three policies: pure functions over recorded metric tables.

A metric table is ``{trial: [v1, v2, ...]}``: the primary metric each trial logged, in order.
Each value logged is one *interval*. A policy is applied to a trial at interval ``N`` when
``N`` is a multiple of ``evaluation_interval`` (0 counts as 1) and ``N >= delay_evaluation``,
looking at every trial's values up to interval ``N``:

- **Bandit**: the trial stops when its best value so far is not within the slack of the best
  value any trial has reached by interval ``N``: below ``best / (1 + slack_factor)`` or
  ``best - slack_amount`` when maximizing (above ``best * (1 + slack_factor)`` or
  ``best + slack_amount`` when minimizing).
- **Median stopping**: the trial stops when its best value up to ``N`` is worse than the
  median of the running averages (over intervals 1..N) of all trials.
- **Truncation selection**: among the trials that reached interval ``N``, the lowest
  ``truncation_percentage`` percent (rounded down, by their value at ``N``) stop.

:func:`check` decides for one trial at one interval; :func:`replay` runs a whole table
interval by interval (a stopped trial logs nothing more), which is how a finished sweep's
metrics are replayed against another policy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from studio_ext.entities._sweep import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    TruncationSelectionPolicy,
)
from studio_ext.errors import InvalidInput


@dataclass(frozen=True)
class Stop:
    """A trial to stop: at which interval, by which policy, and the figures that decided it."""

    trial: str
    interval: int
    policy: str
    value: float
    threshold: float
    reason: str
    figures: dict[str, float] = field(default_factory=dict)


def validate(policy: EarlyTerminationPolicy | None) -> None:
    if policy is None:
        return
    if policy.delay_evaluation < 0 or policy.evaluation_interval < 0:
        raise InvalidInput("An early termination policy's delay_evaluation and evaluation_interval must be >= 0.")
    if isinstance(policy, BanditPolicy):
        if bool(policy.slack_factor) == bool(policy.slack_amount):
            raise InvalidInput("A BanditPolicy takes slack_factor or slack_amount (one of them, above 0). "
                               f"Got slack_factor={policy.slack_factor!r}, slack_amount={policy.slack_amount!r}.")
        if (policy.slack_factor or 0) < 0 or (policy.slack_amount or 0) < 0:
            raise InvalidInput("A BanditPolicy's slack must be positive.")
    if isinstance(policy, TruncationSelectionPolicy) and not 1 <= policy.truncation_percentage <= 99:
        raise InvalidInput("A TruncationSelectionPolicy's truncation_percentage must be between 1 and 99. "
                           f"Got {policy.truncation_percentage!r}.")


def applies_at(policy: EarlyTerminationPolicy, interval: int) -> bool:
    every = max(int(policy.evaluation_interval or 0), 1)
    return interval >= 1 and interval % every == 0 and interval >= int(policy.delay_evaluation or 0)


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def _best(values: Sequence[float], maximize: bool) -> float:
    return max(values) if maximize else min(values)


def check(policy: EarlyTerminationPolicy, goal: str, table: Mapping[str, Sequence[float]], trial: str,
          interval: int) -> Stop | None:
    """Whether ``policy`` stops ``trial`` at ``interval`` (its ``interval``-th value), given every trial's values."""
    own = list(table.get(trial, ()))[:interval]
    if len(own) < interval or not applies_at(policy, interval):
        return None
    maximize = goal.lower() == "maximize"
    upto = {t: [float(v) for v in vs[:interval] if math.isfinite(v)] for t, vs in table.items()}
    upto = {t: vs for t, vs in upto.items() if vs}
    mine = _best([v for v in own if math.isfinite(v)] or [math.nan], maximize)
    if not math.isfinite(mine):
        return None
    if isinstance(policy, BanditPolicy):
        best = _best([_best(vs, maximize) for vs in upto.values()], maximize)
        if policy.slack_factor:
            threshold = best / (1 + policy.slack_factor) if maximize else best * (1 + policy.slack_factor)
            slack = f"slack_factor {policy.slack_factor}"
        else:
            threshold = best - policy.slack_amount if maximize else best + policy.slack_amount
            slack = f"slack_amount {policy.slack_amount}"
        if _better(threshold, mine, maximize):
            return Stop(trial, interval, "bandit", mine, threshold,
                        f"Bandit policy at interval {interval}: its best {mine:.6g} is outside the {slack} of the "
                        f"best trial's {best:.6g} (threshold {threshold:.6g}).",
                        {"best": best, "threshold": threshold, "value": mine})
    elif isinstance(policy, MedianStoppingPolicy):
        averages = [statistics.fmean(vs) for vs in upto.values()]
        median = statistics.median(averages)
        if _better(median, mine, maximize):
            return Stop(trial, interval, "median_stopping", mine, median,
                        f"Median stopping policy at interval {interval}: its best {mine:.6g} is worse than the median "
                        f"{median:.6g} of the running averages of {len(averages)} trials.",
                        {"median": median, "value": mine, "trials": float(len(averages))})
    elif isinstance(policy, TruncationSelectionPolicy):
        at = {t: vs[interval - 1] for t, vs in table.items() if len(vs) >= interval and math.isfinite(vs[interval - 1])}
        cut = int(len(at) * policy.truncation_percentage / 100)
        if cut < 1 or trial not in at:
            return None
        ranked = sorted(at, key=lambda t: at[t], reverse=not maximize)  # worst first
        if trial in ranked[:cut]:
            threshold = at[ranked[cut - 1]]
            return Stop(trial, interval, "truncation_selection", at[trial], threshold,
                        f"Truncation selection policy at interval {interval}: its value {at[trial]:.6g} is among the "
                        f"lowest {policy.truncation_percentage}% ({cut} of {len(at)} trials).",
                        {"value": at[trial], "threshold": threshold, "cut": float(cut), "trials": float(len(at))})
    return None


def replay(policy: EarlyTerminationPolicy | None, goal: str,
           table: Mapping[str, Sequence[float]]) -> dict[str, Stop]:
    """Run ``policy`` over a recorded table, interval by interval: which trials it stops, and when.

    A stopped trial keeps only the values it logged up to its stop (it would have logged no more).
    """
    if policy is None:
        return {}
    validate(policy)
    kept = {t: list(vs) for t, vs in table.items()}
    stops: dict[str, Stop] = {}
    longest = max((len(v) for v in kept.values()), default=0)
    for interval in range(1, longest + 1):
        decided = [s for t in kept if t not in stops and len(kept[t]) > interval
                   and (s := check(policy, goal, kept, t, interval)) is not None]
        for stop in decided:
            stops[stop.trial] = stop
            kept[stop.trial] = kept[stop.trial][:interval]
    return stops


def saved(table: Mapping[str, Sequence[float]], stops: Mapping[str, Stop]) -> tuple[int, int]:
    """(intervals the stops saved, intervals in all): the compute a policy would have saved, in intervals."""
    total = sum(len(v) for v in table.values())
    return sum(len(table[t]) - s.interval for t, s in stops.items()), total
