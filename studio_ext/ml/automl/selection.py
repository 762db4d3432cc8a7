"""The final choice between the best single trial and the ensembles, judged on rows the choice did not see.

Every trial's score comes from held-out predictions, but picking the best of a
hundred trials, or blending the top ones greedily, is itself fitted to those
rows: on small data the winner's score flatters it, and a blend of flattering
trials can lose to a plain linear model on new data. So each way of choosing
(the best single trial, the vote's greedy blend) is cross-fitted: the held-out
rows are cut into parts, the choice is made on all parts but one and scored on
that one, in turn. The stack's score is already cross-validated over those rows.
The way that scores best this way makes the final model; ties go to the single trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .ensemble import greedy_weights
from .metrics import PrimaryMetric, Task, loss_of, primary_score
from .trial import TrialData, TrialResult

__all__ = ["Choice", "choose_final", "CHOICE_PARTS"]

CHOICE_PARTS = 5


@dataclass
class Choice:
    """The chosen trial, and every way's cross-fitted loss (what the choice was made on)."""

    chosen: TrialResult
    losses: dict[str, float]

    def describe(self, metric: PrimaryMetric) -> str:
        sign = -1.0 if metric.higher_is_better else 1.0
        shown = ", ".join(f"{way} {sign * v:.4f}" for way, v in self.losses.items() if math.isfinite(v))
        return (f"{self.chosen.learner} (trial {self.chosen.trial_id}) chosen on rows each way of choosing did not "
                f"see ({CHOICE_PARTS}-part cross-fitting of the held-out predictions, {metric.value}): {shown}.")


def choose_final(single_best: TrialResult, ensembles: list[TrialResult], trials: list[TrialResult],
                 data: TrialData, vote_pool: list[TrialResult], seed: int = 0) -> Choice:
    """The best single trial, the vote or the stack: whichever way of choosing holds up on unseen rows.

    ``vote_pool`` is what the vote picked its members from (the ensemble candidates).
    """
    complete = [r for r in trials if r.complete and not r.components]
    parts = _parts(data, seed)
    if not single_best.complete or not ensembles or len(complete) < 2 or parts is None:
        return Choice(chosen=single_best, losses={})
    rows = data.oof_rows
    losses = {"single": _pooled_loss(data, rows, parts, lambda fit: _best_on(complete, data, fit).predictions)}
    chosen, best = single_best, losses["single"]
    for ensemble in ensembles:
        if ensemble.learner == "VotingEnsemble":
            def blend(fit: np.ndarray, pool: list[TrialResult] = vote_pool) -> np.ndarray:
                weights = greedy_weights(pool, data, fit)
                return sum(w * m.predictions for w, m in zip(weights, pool) if w > 0)

            loss = _pooled_loss(data, rows, parts, blend)
        else:  # the stack's predictions are already out-of-fold for its meta-model
            loss = ensemble.loss
        losses[ensemble.learner] = loss
        if loss < best - 1e-12:
            chosen, best = ensemble, loss
    return Choice(chosen=chosen, losses=losses)


def _best_on(complete: list[TrialResult], data: TrialData, fit: np.ndarray) -> TrialResult:
    rows = data.oof_rows[fit]
    return min(complete, key=lambda r: (_loss(data, rows, r.predictions[fit]), r.trial_id))


def _pooled_loss(data: TrialData, rows: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                 predict: Callable[[np.ndarray], np.ndarray]) -> float:
    """Each part predicted by the choice made on the other parts; the loss of those pooled predictions."""
    pooled: np.ndarray | None = None
    for fit, held in parts:
        predicted = np.asarray(predict(fit))
        if pooled is None:
            pooled = np.zeros_like(predicted, dtype=float)
        pooled[held] = predicted[held]
    return _loss(data, rows, pooled)


def _loss(data: TrialData, rows: np.ndarray, prediction: np.ndarray) -> float:
    return loss_of(data.metric, primary_score(data.task, data.metric, data.y[rows], prediction, data.classes,
                                              data.y_range, weights=data.weights_at(rows)))


def _parts(data: TrialData, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Positions (into the held-out rows) of each part: stratified by class for classification."""
    from sklearn.model_selection import KFold, StratifiedKFold

    y = data.y[data.oof_rows]
    if len(y) < 2 * CHOICE_PARTS:
        return None
    if data.task is Task.CLASSIFICATION:
        counts = np.bincount(y.astype(int))
        if counts[counts > 0].min() < CHOICE_PARTS:
            return None
        splitter = StratifiedKFold(CHOICE_PARTS, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    return list(KFold(CHOICE_PARTS, shuffle=True, random_state=seed).split(np.zeros(len(y))))
