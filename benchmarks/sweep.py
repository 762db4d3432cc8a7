"""Hyperparameter sweeps: policy savings, scheduling overhead, and Bayesian sampling beside Optuna run directly.

Usage: python benchmarks/sweep.py [--trials 40] [--overhead-trials 20] [--seeds 5] [--part savings|overhead|bayesian]

1. **Policy savings.** The course's diabetes data; a gradient boosting model over four
   hyperparameters (n_estimators, learning_rate, max_depth, subsample) logging its test AUC
   at every stage (each 10 trees is one interval). ``--trials`` random trials (seed 7) with no
   policy, then the same seeded trials with ``BanditPolicy(slack_factor=0.1,
   evaluation_interval=1, delay_evaluation=5)``; both on ``compute="local"``. Printed:
   trial-seconds used (the sum of the trials' durations) and the best AUC of each. Goal: the
   policy saves >= 40 % of trial-seconds with a best AUC within 1 % of the no-policy run.
2. **Scheduling overhead.** A 20-trial sweep of trials that sleep about 1 s, on a 2-node
   cluster, 2 at a time: its wall time against 20 / 2 x the mean trial time. Goal: within 25 %.
3. **Bayesian against a peer.** The same objective (a logistic regression's AUC over C and
   the class weight, and a choice of solver) evaluated in this process: the sweep's
   ``BayesianSampler`` (Optuna's TPE through ask/tell, as the sweep runs it) and its
   ``RandomSampler``, beside ``optuna.create_study(...).optimize`` with TPE directly, over
   ``--seeds`` seeds, ``--bayes-trials`` trials each: the best AUC and the trials each needed
   to reach the random sampler's best. Goal: the sweep's Bayesian is no worse than Optuna's
   direct run by more than the seeds' noise (one standard deviation).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dp100" / "diabetes.csv"
FEATURES = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness", "SerumInsulin", "BMI",
            "DiabetesPedigree", "Age"]

# The model is fitted once; its stages are then replayed, each taking about the time its trees took to train
# (so a trial's seconds grow with its size, as a real one's do), and each 10 trees log the test AUC.
GBM_SCRIPT = """\
import argparse, time, mlflow, pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--n_estimators", type=int); p.add_argument("--learning_rate", type=float)
p.add_argument("--max_depth", type=int); p.add_argument("--subsample", type=float)
a = p.parse_args()
t = pd.read_csv(a.data).sample(n=6000, random_state=0)
cols = COLUMNS
x_tr, x_te, y_tr, y_te = train_test_split(t[cols], t["Diabetic"], test_size=0.3, random_state=0)
started = time.time()
m = GradientBoostingClassifier(n_estimators=a.n_estimators, learning_rate=a.learning_rate, max_depth=a.max_depth,
                               subsample=a.subsample, random_state=0).fit(x_tr, y_tr)
per_stage = (time.time() - started) / a.n_estimators
for stage, proba in enumerate(m.staged_predict_proba(x_te), start=1):
    time.sleep(per_stage)
    if stage % 10 == 0:
        mlflow.log_metric("AUC", roc_auc_score(y_te, proba[:, 1]), step=stage // 10)
""".replace("COLUMNS", repr(FEATURES))


def run_sweep(ws: Any, sweep: Any, poll: float = 0.5) -> tuple[Any, float]:
    submitted = ws.jobs.create_or_update(sweep)
    started = time.monotonic()
    while not (job := ws.jobs.get(submitted.name)).status.is_terminal:
        time.sleep(poll)
    return job, time.monotonic() - started


def trial_seconds(ws: Any, name: str) -> float:
    total = 0.0
    for trial in ws.jobs.list(parent_job_name=name):
        if trial.duration_seconds:
            total += trial.duration_seconds
    return total


def savings(root: Path, trials: int) -> None:
    from studio_ext import Workspace, command
    from studio_ext.sweep import BanditPolicy, Choice, QUniform, RandomSamplingAlgorithm, Uniform

    src = root / "gbm"
    src.mkdir()
    (src / "train.py").write_text(GBM_SCRIPT)
    ws = Workspace.create(root / "ws-savings")
    try:
        results = {}
        for label, policy in (("no policy", None),
                              ("Bandit 0.1/1/5", BanditPolicy(slack_factor=0.1, evaluation_interval=1,
                                                               delay_evaluation=5))):
            job = command(code=str(src), command="python train.py --data ${{inputs.data}} --n_estimators "
                          "${{inputs.n_estimators}} --learning_rate ${{inputs.learning_rate}} --max_depth "
                          "${{inputs.max_depth}} --subsample ${{inputs.subsample}}",
                          inputs={"data": str(DATA), "n_estimators": 100, "learning_rate": 0.1, "max_depth": 3,
                                  "subsample": 1.0}, experiment_name="bench-sweep-savings")
            sweep = job(n_estimators=QUniform(min_value=50, max_value=300, q=10),
                        learning_rate=Uniform(min_value=0.005, max_value=0.3), max_depth=Choice([2, 3, 4, 5]),
                        subsample=Uniform(min_value=0.5, max_value=1.0)).sweep(
                sampling_algorithm=RandomSamplingAlgorithm(seed=7), primary_metric="AUC", goal="Maximize",
                early_termination_policy=policy)
            sweep.set_limits(max_total_trials=trials, max_concurrent_trials=2)
            done, wall = run_sweep(ws, sweep)
            results[label] = (trial_seconds(ws, done.name), done.best_metric or float("nan"), wall, done.name)
        base_seconds, base_best, _, _ = results["no policy"]
        print(f"\n1. Policy savings: {trials} seeded random trials of a gradient boosting model (AUC per 10 trees)")
        print(f"{'policy':<16} {'trial-seconds':>14} {'saved':>7} {'best AUC':>9} {'vs none':>8} {'wall s':>7}")
        for label, (seconds, best, wall, _) in results.items():
            print(f"{label:<16} {seconds:>14.1f} {1 - seconds / base_seconds:>7.0%} {best:>9.4f} "
                  f"{(best - base_best) / base_best:>+8.2%} {wall:>7.1f}")
        seconds, best, _, name = results["Bandit 0.1/1/5"]
        ok = 1 - seconds / base_seconds >= 0.40 and abs(best - base_best) / base_best <= 0.01
        stopped = sum(1 for t in ws.sweeps.trials(name) if t.get("stopped"))
        print(f"   {stopped} trials stopped by the policy. Goal (>= 40 % saved, best within 1 %): "
              f"{'met' if ok else 'NOT met'}")
    finally:
        ws.runtime.stop()


def overhead(root: Path, trials: int) -> None:
    from studio_ext import Workspace, command
    from studio_ext.entities import AmlCompute
    from studio_ext.sweep import Choice

    src = root / "sleep"
    src.mkdir()
    (src / "train.py").write_text("import sys, time, mlflow\ntime.sleep(1.0)\nmlflow.log_metric('m', float(sys.argv[1]))\n")
    ws = Workspace.create(root / "ws-overhead")
    try:
        ws.compute.begin_create_or_update(AmlCompute(name="bench-cluster", min_instances=2, max_instances=2)).result(300)
        job = command(code=str(src), command="python train.py ${{inputs.x}}", inputs={"x": 0},
                      experiment_name="bench-sweep-overhead", compute="bench-cluster")
        sweep = job(x=Choice(list(range(trials)))).sweep(sampling_algorithm="grid", primary_metric="m",
                                                          goal="Maximize")
        sweep.set_limits(max_concurrent_trials=2)
        done, wall = run_sweep(ws, sweep, poll=0.2)
        durations = [t.duration_seconds for t in ws.jobs.list(parent_job_name=done.name) if t.duration_seconds]
        mean = statistics.fmean(durations)
        ideal = trials / 2 * mean
        print(f"\n2. Scheduling overhead: {trials} trials on a 2-node cluster, 2 at a time")
        print(f"   wall {wall:.1f} s; mean trial {mean:.2f} s (its job, start to end); ideal {ideal:.1f} s; "
              f"overhead {wall / ideal - 1:+.0%}. Goal (within 25 %): {'met' if wall <= 1.25 * ideal else 'NOT met'}")
    finally:
        ws.runtime.stop()


def bayesian(seeds: int, trials: int) -> None:
    import numpy as np
    import optuna
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from studio_ext.ml.sweep import samplers
    from studio_ext.sweep import BayesianSamplingAlgorithm, Choice, RandomSamplingAlgorithm, Uniform

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = pd.read_csv(DATA).sample(n=4000, random_state=0)
    x_tr, x_te, y_tr, y_te = train_test_split(table[FEATURES], table["Diabetic"], test_size=0.3, random_state=0)

    def objective(p: dict) -> float:
        model = LogisticRegression(C=10 ** p["log_c"], class_weight=p["class_weight"] or None, solver=p["solver"],
                                   max_iter=200).fit(x_tr, y_tr)
        return float(roc_auc_score(y_te, model.predict_proba(x_te)[:, 1]))

    space = {"log_c": Uniform(min_value=-6, max_value=2), "class_weight": Choice(["", "balanced"]),
             "solver": Choice(["lbfgs", "liblinear"])}

    def with_sampler(sampler: Any) -> list[float]:
        curve, best = [], -1.0
        for i in range(trials):
            p = sampler.suggest()
            value = objective(p)
            sampler.tell(i, value, "Completed")
            best = max(best, value)
            curve.append(best)
        return curve

    def optuna_direct(seed: int) -> list[float]:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(lambda t: objective({"log_c": t.suggest_float("log_c", -6, 2),
                                            "class_weight": t.suggest_categorical("class_weight", ["", "balanced"]),
                                            "solver": t.suggest_categorical("solver", ["lbfgs", "liblinear"])}),
                       n_trials=trials)
        return list(np.maximum.accumulate([t.value for t in study.trials]))

    rows = {"sweep random": [], "sweep bayesian": [], "optuna TPE direct": []}
    for seed in range(seeds):
        rows["sweep random"].append(with_sampler(samplers.make(RandomSamplingAlgorithm(seed=seed), space, seed=seed)))
        rows["sweep bayesian"].append(with_sampler(samplers.make(BayesianSamplingAlgorithm(), space, seed=seed,
                                                                 goal="maximize")))
        rows["optuna TPE direct"].append(optuna_direct(seed))
    print(f"\n3. Bayesian beside Optuna run directly: {seeds} seeds x {trials} trials, logistic regression AUC")
    print(f"{'sampler':<18} {'best AUC (mean ± sd)':>22} {'trials to random best':>22}")
    random_best = [c[-1] for c in rows["sweep random"]]
    for label, curves in rows.items():
        bests = [c[-1] for c in curves]
        reach = [next((i + 1 for i, v in enumerate(c) if v >= rb), float("nan")) for c, rb in zip(curves, random_best)]
        print(f"{label:<18} {statistics.fmean(bests):>12.5f} ± {statistics.pstdev(bests):<8.5f} "
              f"{statistics.fmean(reach):>22.1f}")
    ours = [c[-1] for c in rows["sweep bayesian"]]
    peer = [c[-1] for c in rows["optuna TPE direct"]]
    noise = statistics.pstdev(peer) or 1e-9
    ok = statistics.fmean(ours) >= statistics.fmean(peer) - noise
    print(f"   Goal (the sweep's Bayesian no worse than Optuna direct beyond one sd of noise): "
          f"{'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--overhead-trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bayes-trials", type=int, default=30)
    parser.add_argument("--part", choices=("savings", "overhead", "bayesian"), action="append")
    args = parser.parse_args()
    parts = args.part or ["savings", "overhead", "bayesian"]
    root = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    if "bayesian" in parts:
        bayesian(args.seeds, args.bayes_trials)
    if "overhead" in parts:
        overhead(root, args.overhead_trials)
    if "savings" in parts:
        savings(root, args.trials)


if __name__ == "__main__":
    main()
