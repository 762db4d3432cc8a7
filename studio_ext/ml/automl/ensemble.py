"""Vote and stack ensembles of the best trials, chosen on their held-out predictions.

The vote is Caruana's greedy ensemble selection (as Azure's VotingEnsemble): add,
with replacement, the trial that most improves the averaged predictions; member
weights are how often each was picked. The stack fits a linear meta-model on the
members' held-out predictions and scores it by cross-validation over those rows.
Both are compared with single trials on the same rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from studio_ext.ml.automl.metrics import Task, loss_of, primary_score, score
from studio_ext.ml.automl.trial import TrialData, TrialResult, TrialStatus

__all__ = ["StackingModel", "VotingModel", "candidates", "greedy_weights", "stack", "vote"]

MAX_MEMBERS = 8
VOTE_ROUNDS = 20
VOTE_PATIENCE = 5  # rounds without improvement before the selection stops


def candidates(results: list[TrialResult], limit: int = MAX_MEMBERS, *, refit_seconds: float = math.inf,
               cost: Any = None) -> list[TrialResult]:
    """The best trials with held-out predictions: the best of each learner first, then the rest.

    With ``cost`` (trial → seconds to refit it), members are taken only while their
    refits fit in ``refit_seconds``, so a winning ensemble can always be refit in time.
    """
    ok = sorted((r for r in results if r.complete), key=lambda r: (r.loss, r.trial_id))
    ordered = [r for i, r in enumerate(ok) if r.learner not in {o.learner for o in ok[:i]}]
    ordered += [r for r in ok if r not in ordered]
    chosen: list[TrialResult] = []
    spent = 0.0
    for r in ordered:
        if len(chosen) == limit:
            break
        price = cost(r) if cost is not None else 0.0
        if spent + price > refit_seconds:
            continue
        chosen.append(r)
        spent += price
    return sorted(chosen, key=lambda r: (r.loss, r.trial_id))


def vote(members: list[TrialResult], data: TrialData, trial_id: int) -> TrialResult | None:
    """Greedy selection with replacement; None when fewer than two members help."""
    if len(members) < 2:
        return None
    rows = data.oof_rows
    y = data.y[rows]
    weights = greedy_weights(members, data, np.arange(len(rows)))
    if np.count_nonzero(weights) < 2:
        return None
    blend = sum(w * m.predictions for w, m in zip(weights, members))
    used = [(m, w) for m, w in zip(members, weights) if w > 0]
    metrics = score(data.task, y, blend, data.classes, data.y_range, weights=data.weights_at(rows))
    return TrialResult(
        trial_id=trial_id, learner="VotingEnsemble", config={"members": [m.trial_id for m, _ in used]},
        status=TrialStatus.COMPLETED, metrics=metrics, loss=loss_of(data.metric, metrics[data.metric.value]),
        predictions=blend, components=[m.trial_id for m, _ in used], weights=[float(w) for _, w in used],
        fit_seconds=sum(m.fit_seconds for m, _ in used))


def greedy_weights(members: list[TrialResult], data: TrialData, positions: np.ndarray) -> np.ndarray:
    """Caruana's selection judged on ``positions`` (indices into the held-out rows) only: member weights."""
    rows = data.oof_rows[positions]
    y = data.y[rows]
    counts = np.zeros(len(members))
    total = np.zeros_like(members[0].predictions[positions], dtype=float)
    best_loss = math.inf
    best_counts = counts.copy()
    best_round = 0
    for round_ in range(1, VOTE_ROUNDS + 1):
        losses = [_loss(data, y, (total + m.predictions[positions]) / round_, rows) for m in members]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        total += members[pick].predictions[positions]
        if losses[pick] < best_loss - 1e-12:
            best_loss, best_counts, best_round = losses[pick], counts.copy(), round_
        elif round_ - best_round >= VOTE_PATIENCE:  # the blend has stopped improving
            break
    return best_counts / max(best_counts.sum(), 1.0)


def stack(members: list[TrialResult], data: TrialData, trial_id: int, seed: int = 0) -> TrialResult | None:
    """A linear meta-model over the members' held-out predictions, scored by 5-fold CV on those rows."""
    if len(members) < 2:
        return None
    from sklearn.model_selection import KFold, StratifiedKFold

    rows = data.oof_rows
    y = data.y[rows]
    features = stack_features([m.predictions for m in members], data.task)
    pooled = np.zeros_like(members[0].predictions, dtype=float)
    classification = data.task is Task.CLASSIFICATION
    folds = min(5, int(np.bincount(y.astype(int)).min())) if classification else 5
    if folds < 2 or len(y) < 10:
        return None
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if classification
                else KFold(folds, shuffle=True, random_state=seed))
    weights = data.weights_at(rows)
    for train, valid in splitter.split(features, y if classification else None):
        meta = _meta_model(data.task).fit(features[train], y[train],
                                          sample_weight=None if weights is None else weights[train])
        pooled[valid] = _meta_predict(meta, features[valid], data)
    metrics = score(data.task, y, pooled, data.classes, data.y_range, weights=data.weights_at(rows))
    return TrialResult(
        trial_id=trial_id, learner="StackEnsemble", config={"members": [m.trial_id for m in members],
                                                            "meta_learner": type(_meta_model(data.task)).__name__},
        status=TrialStatus.COMPLETED, metrics=metrics, loss=loss_of(data.metric, metrics[data.metric.value]),
        predictions=pooled, components=[m.trial_id for m in members], weights=[1.0] * len(members),
        fit_seconds=sum(m.fit_seconds for m in members))


def _loss(data: TrialData, y: np.ndarray, prediction: np.ndarray, rows: np.ndarray) -> float:
    value = primary_score(data.task, data.metric, y, prediction, data.classes, data.y_range,
                          weights=data.weights_at(rows))
    return loss_of(data.metric, value)


def stack_features(predictions: list[np.ndarray], task: Task) -> np.ndarray:
    """The meta-model's inputs: each member's probabilities (the positive class's alone for two classes, the
    other column being its complement), or its predictions."""
    if task is Task.CLASSIFICATION:
        return np.hstack([p[:, 1:] if p.shape[1] == 2 else p for p in map(np.asarray, predictions)])
    return np.column_stack(predictions)


def _meta_model(task: Task) -> Any:
    from sklearn.linear_model import LogisticRegression, RidgeCV

    if task is Task.CLASSIFICATION:
        return LogisticRegression(C=1.0, max_iter=1000)
    return RidgeCV(alphas=(0.01, 0.1, 1.0, 10.0, 100.0))


def _meta_predict(meta: Any, features: np.ndarray, data: TrialData) -> np.ndarray:
    if data.task is not Task.CLASSIFICATION:
        return meta.predict(features)
    proba = np.zeros((len(features), data.n_classes))
    proba[:, meta.classes_.astype(int)] = meta.predict_proba(features)
    return proba


class VotingModel(BaseEstimator):
    """Fitted members averaged with weights (probabilities for classification)."""

    def __init__(self, members: list[Any] | None = None, weights: list[float] | None = None,
                 classification: bool = True) -> None:
        self.members = members
        self.weights = weights
        self.classification = classification

    def fit(self, X: Any, y: Any) -> VotingModel:
        """Refit every member on ``X``; the weights stay as the selection chose them."""
        from sklearn.base import clone

        self.members = [clone(m).fit(X, y) for m in self.members]
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X: Any) -> np.ndarray:
        return sum(w * np.asarray(m.predict_proba(X)) for w, m in zip(self.weights, self.members))

    def predict(self, X: Any) -> np.ndarray:
        if self.classification:
            return self.predict_proba(X).argmax(axis=1)
        return sum(w * np.asarray(m.predict(X), dtype=float) for w, m in zip(self.weights, self.members))


class StackingModel(BaseEstimator):
    """Fitted members whose predictions feed a fitted linear meta-model."""

    def __init__(self, members: list[Any] | None = None, meta: Any = None, n_classes: int = 0) -> None:
        self.members = members
        self.meta = meta
        self.n_classes = n_classes

    def fit(self, X: Any, y: Any) -> StackingModel:
        """Refit the members, and the meta-model on their 5-fold out-of-fold predictions."""
        from sklearn.base import clone
        from sklearn.model_selection import cross_val_predict

        method = "predict_proba" if self.n_classes else "predict"
        held_out = [cross_val_predict(clone(m), X, y, cv=5, method=method) for m in self.members]
        self.members = [clone(m).fit(X, y) for m in self.members]
        task = Task.CLASSIFICATION if self.n_classes else Task.REGRESSION
        self.meta = fit_meta(held_out, np.asarray(y), task)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _features(self, X: Any) -> np.ndarray:
        if self.n_classes:
            return stack_features([np.asarray(m.predict_proba(X)) for m in self.members], Task.CLASSIFICATION)
        return stack_features([np.asarray(m.predict(X), dtype=float) for m in self.members], Task.REGRESSION)

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = np.zeros((np.shape(X)[0], self.n_classes))
        proba[:, self.meta.classes_.astype(int)] = self.meta.predict_proba(self._features(X))
        return proba

    def predict(self, X: Any) -> np.ndarray:
        if self.n_classes:
            return self.predict_proba(X).argmax(axis=1)
        return self.meta.predict(self._features(X))


def fit_meta(members_predictions: list[np.ndarray], y: np.ndarray, task: Task,
             weights: np.ndarray | None = None) -> Any:
    """The stack's meta-model fitted on all held-out rows (for the final model), with their sample weights."""
    return _meta_model(task).fit(stack_features(members_predictions, task), y, sample_weight=weights)
