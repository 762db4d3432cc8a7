"""Hyperparameter importance of a finished sweep: Optuna's fANOVA evaluator over its completed trials.

Each hyperparameter's distribution is read from the values the trials took (numbers as a
float range, anything else as categories), so it works for every sampler's sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def importance(trials: Sequence[tuple[Mapping[str, Any], float]], goal: str = "maximize",
               seed: int = 0) -> dict[str, float]:
    """``{hyperparameter: importance}`` (summing to 1) from (hyperparameters, metric) pairs; {} when too few."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    done = [(dict(p), float(v)) for p, v in trials if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(done) < 2:
        return {}
    names = sorted({k for p, _ in done for k in p})
    distributions: dict[str, Any] = {}
    for name in names:
        values = [p[name] for p, _ in done if name in p]
        if len(set(map(repr, values))) < 2:
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            distributions[name] = FloatDistribution(float(min(values)), float(max(values)))
        else:
            distributions[name] = CategoricalDistribution(sorted({str(v) for v in values}))
    if not distributions:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if goal.lower() == "maximize" else "minimize")
    for params, value in done:
        shown = {k: (float(params[k]) if isinstance(d, FloatDistribution) else str(params[k]))
                 for k, d in distributions.items() if k in params}
        if len(shown) == len(distributions):
            study.add_trial(optuna.trial.create_trial(params=shown, distributions=distributions, value=value))
    if len(study.trials) < 2:
        return {}
    found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    return {k: float(v) for k, v in found.items()}
