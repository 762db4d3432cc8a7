"""Early termination policies replayed over recorded metric tables, against Azure's documented examples.

Azure's docs ("Hyperparameter tuning a model", early termination):
- BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5): applied at every interval from
  interval 5; a run whose best metric is below 1/(1+0.1) (about 91 %) of the best run's is cancelled.
- HyperDrive's Bandit example: slack_factor=0.2; the best run's AUC is 0.8; a run whose best AUC Y has
  Y + Y * 0.2 < 0.8 (Y < 0.667) is cancelled.
- MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5): a run stops at interval N (N >= 5) if its
  best metric up to N is worse than the median of the running averages over intervals 1:N of all runs.
- TruncationSelectionPolicy(evaluation_interval=1, truncation_percentage=20, delay_evaluation=5): a run stops at
  interval 5 if its metric at interval 5 is in the lowest 20 % of all runs' at interval 5.
"""

from __future__ import annotations

import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.sweep import policies
from studio_ext.sweep import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy

# Accuracy per epoch of five trials (maximize).
TABLE = {
    "t1": [0.50, 0.60, 0.70, 0.75, 0.80, 0.82, 0.84, 0.85],
    "t2": [0.50, 0.55, 0.60, 0.65, 0.70, 0.71, 0.72, 0.73],   # 0.70 at 5 < 0.80/1.1 = 0.727: stopped at 5
    "t3": [0.40, 0.50, 0.60, 0.70, 0.74, 0.76, 0.77, 0.78],   # 0.74 within the slack at 5 (and 6); 0.77 < 0.86/1.1 at 7
    "t4": [0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30],   # far behind from the start, but not before interval 5
    "t5": [0.55, 0.65, 0.72, 0.78, 0.79, 0.83, 0.86, 0.88],
}


def test_bandit_slack_factor_docs_example() -> None:
    stops = policies.replay(BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5), "Maximize", TABLE)
    # t4 trails from interval 1 but nothing stops before delay_evaluation; t3 falls outside the slack at 7
    assert {k: s.interval for k, s in stops.items()} == {"t2": 5, "t4": 5, "t3": 7}
    assert stops["t2"].threshold == pytest.approx(0.80 / 1.1)
    assert stops["t2"].figures["best"] == 0.80 and "slack_factor 0.1" in stops["t2"].reason


def test_bandit_keeps_checking_after_the_delay() -> None:
    # t3 later falls behind: at 7 the best is 0.86, threshold 0.7818; t3's best 0.77 is below it.
    stops = policies.replay(BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5), "Maximize",
                            {k: TABLE[k] for k in ("t1", "t3", "t5")})
    assert {k: s.interval for k, s in stops.items()} == {"t3": 7}


def test_bandit_hyperdrive_auc_example_and_interval() -> None:
    # Best AUC 0.8; Y + 0.2 Y < 0.8 stops (Y < 0.6667); only at multiples of evaluation_interval (here 2).
    table = {"x": [0.7, 0.8, 0.8, 0.8], "a": [0.60, 0.66, 0.7, 0.7], "b": [0.65, 0.67, 0.7, 0.7]}
    stops = policies.replay(BanditPolicy(slack_factor=0.2, evaluation_interval=2), "maximize", table)
    assert {k: s.interval for k, s in stops.items()} == {"a": 2}


def test_bandit_slack_amount_and_minimize() -> None:
    table = {"good": [1.0, 0.5, 0.4], "ok": [1.0, 0.6, 0.5], "bad": [1.0, 0.9, 0.8]}
    stops = policies.replay(BanditPolicy(slack_amount=0.2, evaluation_interval=1), "Minimize", table)
    # interval 2: best 0.5, threshold 0.7: bad (0.9) stops; ok (0.6) stays; interval 3 best 0.4: ok's 0.5 < 0.6 stays
    assert {k: s.interval for k, s in stops.items()} == {"bad": 2}


def test_median_stopping_docs_example() -> None:
    stops = policies.replay(MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5), "Maximize", TABLE)
    # Running averages over 1..5: t1 .67, t2 .60, t3 .588, t4 .30, t5 .698 -> median .60.
    # t4's best .30 < .60 stops at 5; t2's best .70 and t3's .74 are better than the median.
    assert {k: s.interval for k, s in stops.items()} == {"t4": 5}
    assert stops["t4"].threshold == pytest.approx(0.60)


def test_median_uses_best_so_far_not_latest() -> None:
    table = {"a": [0.9, 0.1, 0.1], "b": [0.5, 0.5, 0.5], "c": [0.4, 0.4, 0.4]}
    stops = policies.replay(MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=2), "maximize", table)
    # interval 2: averages a .5, b .5, c .4 -> median .5; a's best .9 survives, c's .4 stops
    assert {k: s.interval for k, s in stops.items()} == {"c": 2}


def test_truncation_selection_docs_example() -> None:
    stops = policies.replay(TruncationSelectionPolicy(evaluation_interval=1, truncation_percentage=20,
                                                      delay_evaluation=5), "Maximize", TABLE)
    # At 5: 20 % of 5 trials = 1, the lowest is t4 (0.30). At 6 (4 left): 20 % of 4 = 0, nobody.
    assert {k: s.interval for k, s in stops.items()} == {"t4": 5}


def test_truncation_40_percent_each_interval() -> None:
    stops = policies.replay(TruncationSelectionPolicy(evaluation_interval=2, truncation_percentage=40), "maximize",
                            TABLE)
    # interval 2: lowest 2 of 5 by value at 2: t4 (.30), t3 (.50). interval 4: of t1 .75, t2 .65, t5 .78 -> 1: t2.
    assert {k: s.interval for k, s in stops.items()} == {"t4": 2, "t3": 2, "t2": 4}


def test_savings_and_bad_policies() -> None:
    stops = policies.replay(BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5), "Maximize", TABLE)
    assert policies.saved(TABLE, stops) == (3 + 3 + 1, 40)
    with pytest.raises(InvalidInput, match="slack_factor or slack_amount"):
        policies.validate(BanditPolicy())
    with pytest.raises(InvalidInput, match="between 1 and 99"):
        policies.validate(TruncationSelectionPolicy(truncation_percentage=0))
