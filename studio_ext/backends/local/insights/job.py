"""The job behind ``ws.explanations.create`` and ``ws.fairness.mitigate``.

Run by the jobs service as ``python -m studio_ext.backends.local.insights.job SPEC`` in
the job's folder, with ``MLFLOW_RUN_ID`` pointing at the job's run. It loads the model
and data through the workspace (with the same trust checks as the kernel), runs the
engine with a progress bar in the job log and a ``progress`` metric for panels, and
stores the result as artifacts of its run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.insights.inputs import DatasetSource, ModelSource, load_dataset, load_model
from studio_ext.backends.local.insights.records import frame_of, record_summary
from studio_ext.entities import InsightKind, JobStatus
from studio_ext.errors import StudioError


class _Progress:
    """tqdm in the log and a throttled ``progress`` metric (0..1) on the run."""

    def __init__(self, client: Any, run_id: str, description: str) -> None:
        self.client, self.run_id = client, run_id
        self.bar = tqdm(desc=description, file=sys.stdout, mininterval=1.0)
        self.reported = -1.0
        self.step = 0

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()
        fraction = done / total if total else 1.0
        if fraction - self.reported >= 0.05 or fraction >= 1.0:
            self.step += 1
            self.client.log_metric(self.run_id, "progress", round(fraction, 4), step=self.step)
            self.reported = fraction

    def close(self) -> None:
        self.bar.close()


def run_explanation(backend: Any, spec: dict[str, Any], model: Any, data: Any, client: Any, run_id: str, name: str) -> None:
    from studio_ext.ml.explain import explain

    options = {k: v for k, v in spec["options"].items() if v is not None}
    progress = _Progress(client, run_id, "explaining rows")
    try:
        exp = explain(model, data, spec["target_column"], progress=progress, **options)
        progress(1, 1)
    finally:
        progress.close()
    exp.metadata.update({"name": name, "model": spec["model"]["reference"], "dataset": spec["dataset"]["reference"],
                         "target_column": spec["target_column"]})
    with tempfile.TemporaryDirectory(prefix="studio-explanation-") as tmp:
        exp.save(tmp)
        client.log_artifacts(run_id, tmp, "explanation")
    client.log_param(run_id, "explainer", exp.method)
    if exp.fidelity:
        client.log_metric(run_id, f"fidelity_{exp.fidelity['metric']}", exp.fidelity["value"])
    client.log_metric(run_id, "rows_explained", exp.sampling.get("rows_explained", exp.rows))
    top = ", ".join(f"{k} {v:.3g}" for k, v in list(exp.global_importance.items())[:5])
    print(f"{exp.method}: top features {top}")
    record_summary(backend, InsightKind.EXPLANATION, name, exp.summary())


def run_mitigation(backend: Any, spec: dict[str, Any], model: Any, data: Any, client: Any, run_id: str, name: str) -> None:
    import mlflow.sklearn

    from studio_ext.ml.fairness import mitigate

    options = {k: v for k, v in spec["options"].items() if v is not None}
    sensitive = options.pop("sensitive_features")
    result = mitigate(model, data, spec["target_column"], sensitive, progress=lambda msg: print(msg, flush=True),
                      **options)
    experiment_id = client.get_run(run_id).info.experiment_id
    steps = tqdm(result.candidates, desc="storing candidates", file=sys.stdout)
    for i, candidate in enumerate(steps):
        child = client.create_run(experiment_id, run_name=f"candidate {candidate.name}",
                                  tags={"mlflow.parentRunId": run_id, "studio_insight": "fairness_candidate",
                                        "fairness.candidate": candidate.name})
        cid = child.info.run_id
        for key, value in {**candidate.performance, **candidate.disparity}.items():
            client.log_metric(cid, key, value)
        client.log_param(cid, "method", result.method.value if not candidate.is_original else "original")
        client.log_param(cid, "constraint", result.constraint.value)
        if not candidate.is_original:
            with tempfile.TemporaryDirectory(prefix="studio-candidate-") as tmp:
                folder = Path(tmp) / "model"
                example = data[candidate.model.input_columns].head(5)
                mlflow.sklearn.save_model(candidate.model, str(folder), serialization_format="cloudpickle",
                                          input_example=example)
                client.log_artifacts(cid, str(folder), "model")
        client.set_terminated(cid, JobStatus.COMPLETED.mlflow_status)
        candidate.run_id = cid
        client.log_metric(run_id, "progress", (i + 1) / len(result.candidates), step=i + 1)
    result.metadata.update({"name": name, "model": spec["model"]["reference"], "dataset": spec["dataset"]["reference"],
                            "target_column": spec["target_column"]})
    with tempfile.TemporaryDirectory(prefix="studio-mitigation-") as tmp:
        (Path(tmp) / "mitigation.json").write_text(json.dumps(result.to_dict()), encoding="utf-8")
        client.log_artifacts(run_id, tmp, "fairness")
    front = set(result.pareto_front)
    for c in result.candidates:
        print(f"{c.name}{' (Pareto front)' if c.index in front else ''}: "
              f"{result.performance_metric}={c.performance[result.performance_metric]:.4f} "
              f"{result.disparity_metric}={c.disparity[result.disparity_metric]:.4f}")
    record_summary(backend, InsightKind.MITIGATION, name, {
        "candidates": len(result.candidates), "pareto_front": [result.candidates[i].name for i in result.pareto_front],
        "original": {**result.original.performance, **result.original.disparity}})


def main(argv: list[str] | None = None) -> int:
    from studio_ext.backends.local import LocalBackend
    from studio_ext.workspace import Workspace

    argv = sys.argv[1:] if argv is None else argv
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    run_id = os.environ["MLFLOW_RUN_ID"]
    name = os.environ.get("AZUREML_RUN_ID", "")
    ws = Workspace(spec["workspace"])
    backend = LocalBackend.of(ws)
    client = tracking.client(backend.tracking_uri)
    try:
        model = load_model(backend, ModelSource(**spec["model"]))
        data = frame_of(spec, spec_path.parent)
        if data is None:
            data = load_dataset(backend, DatasetSource(**spec["dataset"]))
        print(f"{spec['kind']} of {spec['model']['reference']} on {spec['dataset']['reference']} ({len(data):,} rows)",
              flush=True)
        if spec["kind"] == InsightKind.EXPLANATION.value:
            run_explanation(backend, spec, model, data, client, run_id, name)
        else:
            run_mitigation(backend, spec, model, data, client, run_id, name)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
