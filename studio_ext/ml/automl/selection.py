"""The final choice between the single trials and the ensembles, made on what the held-out rows can tell apart.

Every trial's score comes from held-out predictions, but picking the best of
hundreds of trials, or blending the top ones greedily, is itself fitted to those
rows: on small data the winner's score flatters it. On 426 rows of breast cancer
data, the trial with the best cross-validated AUC, or a vote of the top trials,
lost on new rows to a plain logistic regression in most splits of the data.
Three rules keep the choice to what the rows can support:

* **Ties.** Trials whose primary metric is within one standard error of the best
  one's (the paired difference over parts of the held-out rows) are tied. For
  classification, the tied trial with the lowest log loss wins: a proper scoring
  rule uses every probability, where AUC near 1 turns on a few pairs of rows.
* **Cross-fitting.** Each way of choosing (the single trial by the rule above, the
  vote's greedy blend) is made on all parts of the held-out rows but one and scored
  on that one, in turn. The stack's predictions are already out-of-fold.
* **Evidence.** An ensemble replaces the single trial only when its cross-fitted
  gain passes a one-sided paired t-test over the parts at 97.5 % (2.78 standard errors with 5
  parts); otherwise the simpler model stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from studio_ext.ml.automl.ensemble import greedy_weights
from studio_ext.ml.automl.metrics import PrimaryMetric, Task, auc_of_rows, loss_of, primary_score
from studio_ext.ml.automl.trial import TrialData, TrialResult

__all__ = ["CHOICE_PARTS", "ENSEMBLE_CONFIDENCE", "TIE_PARTS", "Choice", "choose_final", "pick_single"]

CHOICE_PARTS = 5  # cross-fitting of each way of choosing
TIE_PARTS = 10  # parts of the held-out rows that give a difference its standard error
ENSEMBLE_CONFIDENCE = 0.975  # one-sided: a paired t-test over the parts that an ensemble's gain is real


@dataclass
class Choice:
    """The chosen trial, the single trial it was weighed against, and every way's cross-fitted loss."""

    chosen: TrialResult
    single: TrialResult
    losses: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def describe(self, metric: PrimaryMetric) -> str:
        sign = -1.0 if metric.higher_is_better else 1.0
        shown = ", ".join(f"{way} {sign * v:.4f}" for way, v in self.losses.items() if math.isfinite(v))
        text = f"{self.chosen.learner} (trial {self.chosen.trial_id}) chosen"
        if shown:
            text += (f" on rows each way of choosing did not see ({CHOICE_PARTS}-part cross-fitting of the held-out "
                     f"predictions, {metric.value}, the mean over the parts): {shown}")
        return " ".join([text + "."] + self.reasons)


def choose_final(single_best: TrialResult, ensembles: list[TrialResult], trials: list[TrialResult],
                 data: TrialData, vote_pool: list[TrialResult], seed: int = 0) -> Choice:
    """The single trial the held-out rows support, or an ensemble whose gain over it is clear.

    ``single_best`` is the search's best (used when no trial has predictions on every
    held-out row); ``vote_pool`` is what the vote picked its members from.
    """
    complete = [r for r in trials if r.complete and not r.components]
    if not single_best.complete or not complete:
        return Choice(chosen=single_best, single=single_best)
    every = np.arange(len(data.oof_rows))
    stacked = _positive_scores(complete, data)  # once for the six picks below
    single = pick_single(complete, data, every, seed, stacked=stacked)
    reasons = []
    if single is not single_best:
        reasons.append(f"Its {data.metric.value} is tied with the best single trial's ({single_best.learner}, trial "
                       f"{single_best.trial_id}: within one standard error over {TIE_PARTS} parts of the held-out "
                       "rows), and its log loss is the lowest of the tied trials.")
    choice = Choice(chosen=single, single=single, reasons=reasons)
    parts = _parts(data, every, CHOICE_PARTS, seed)
    if not ensembles or len(complete) < 2 or parts is None:
        return choice
    # Each part scored by the choice made without it; the parts' spread gives a gain its standard error.
    single_parts = np.array([_loss(data, held, pick_single(complete, data, fit, seed, stacked=stacked).predictions)
                             for fit, held in parts])
    choice.losses["single"] = float(single_parts.mean())
    needed = _t_quantile(ENSEMBLE_CONFIDENCE, len(parts) - 1)  # standard errors a gain must reach: 2.78 for 5 parts
    best_gain, best_error = 0.0, math.inf
    for ensemble in ensembles:
        if ensemble.learner == "VotingEnsemble":
            def blend(fit: np.ndarray, pool: list[TrialResult] = vote_pool) -> np.ndarray:
                weights = greedy_weights(pool, data, fit)
                return sum(w * m.predictions for w, m in zip(weights, pool) if w > 0)

            part_losses = np.array([_loss(data, held, blend(fit)) for fit, held in parts])
        else:  # the stack's predictions are already out-of-fold for its meta-model
            part_losses = np.array([_loss(data, held, ensemble.predictions) for _, held in parts])
        choice.losses[ensemble.learner] = float(part_losses.mean())
        gains = single_parts - part_losses
        gain, error = float(gains.mean()), float(gains.std(ddof=1) / math.sqrt(len(gains)))
        if not gain > 0:
            continue
        if gain >= needed * error and gain > best_gain:
            choice.chosen, best_gain, best_error = ensemble, gain, error
        elif choice.chosen is single:
            reasons.append(f"The {ensemble.learner} gained {gain:.4f} over it, under {needed:.2f} standard errors "
                           f"(one is {error:.4f}; a paired t-test over {len(parts)} parts): the simpler model stands.")
    if choice.chosen is not single:
        ratio = best_gain / max(best_error, 1e-12)
        gained = (f"It gained {best_gain:.4f} over the single trial ({single.learner}, trial {single.trial_id}), "
                  f"{ratio:.1f} standard errors.")
        choice.reasons = [gained]
    return choice


def pick_single(complete: list[TrialResult], data: TrialData, positions: np.ndarray, seed: int = 0, *,
                stacked: np.ndarray | None = None) -> TrialResult:
    """The best single trial on ``positions`` (indices into the held-out rows); for classification, the lowest
    log loss among those tied with it on the primary metric. ``stacked``: :func:`_positive_scores` of
    ``complete``, when the caller picks several times."""
    if stacked is None:
        stacked = _positive_scores(complete, data)
    losses = _loss_matrix(complete, data, [positions], stacked)[:, 0]
    order = sorted(range(len(complete)), key=lambda i: (losses[i], complete[i].trial_id))
    best = complete[order[0]]
    if data.task is not Task.CLASSIFICATION:
        return best
    parts = _parts(data, positions, TIE_PARTS, seed)
    if parts is None:
        return best
    differences = _loss_matrix(complete, data, [held for _, held in parts], stacked)
    differences -= differences[order[0]]
    with np.errstate(invalid="ignore"):
        tied = differences.mean(axis=1) <= differences.std(axis=1, ddof=1) / math.sqrt(len(parts))
    tied[order[0]] = True
    rows = data.oof_rows[positions]
    truth, weights = data.y[rows].astype(int), data.weights_at(rows)
    return min((r for r, t in zip(complete, tied) if t),
               key=lambda r: (_log_loss(truth, r.predictions[positions], weights), r.trial_id))


def _positive_scores(complete: list[TrialResult], data: TrialData) -> np.ndarray | None:
    """Every trial's positive-class probabilities, one row each, when the metric is unweighted binary AUC (so all
    trials can be ranked at once: thousands of trials, as a long search on small data runs, took seconds one by
    one); None otherwise."""
    if (data.task is not Task.CLASSIFICATION or data.metric is not PrimaryMetric.AUC_WEIGHTED
            or data.weights is not None or data.n_classes != 2):
        return None
    return np.stack([r.predictions[:, 1] for r in complete])


def _loss_matrix(complete: list[TrialResult], data: TrialData, position_sets: list[np.ndarray],
                 stacked: np.ndarray | None) -> np.ndarray:
    """The primary metric's loss of every trial (a row each) on each set of positions (a column each)."""
    if stacked is None:
        return np.array([[_loss(data, p, r.predictions) for p in position_sets] for r in complete])
    out = np.empty((len(complete), len(position_sets)))
    for j, positions in enumerate(position_sets):
        out[:, j] = -auc_of_rows(data.y[data.oof_rows[positions]] == 1, stacked[:, positions])
    return out


def _loss(data: TrialData, positions: np.ndarray, prediction: np.ndarray) -> float:
    """The primary metric's loss of ``prediction`` (aligned with the held-out rows) on ``positions``."""
    rows = data.oof_rows[positions]
    return loss_of(data.metric, primary_score(data.task, data.metric, data.y[rows], prediction[positions],
                                              data.classes, data.y_range, weights=data.weights_at(rows)))


def _t_quantile(confidence: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(confidence, dof))


def _log_loss(truth: np.ndarray, proba: np.ndarray, weights: np.ndarray | None) -> float:
    picked = np.clip(proba[np.arange(len(truth)), truth], 1e-15, 1.0)
    return float(np.average(-np.log(picked), weights=weights))


def _parts(data: TrialData, positions: np.ndarray, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``n`` parts of ``positions`` (stratified by class for classification) as (rest, part); None when too few."""
    from sklearn.model_selection import KFold, StratifiedKFold

    y = data.y[data.oof_rows[positions]]
    if len(y) < 2 * n:
        return None
    if data.task is Task.CLASSIFICATION:
        counts = np.bincount(y.astype(int))
        if counts[counts > 0].min() < n:
            return None
        split = StratifiedKFold(n, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    else:
        split = KFold(n, shuffle=True, random_state=seed).split(np.zeros(len(y)))
    return [(positions[fit], positions[held]) for fit, held in split]
