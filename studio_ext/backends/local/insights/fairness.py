"""``ws.fairness`` on the local backend: assessments, mitigation jobs, candidate registration.

An assessment is quick (one prediction pass), so it runs here and is stored at once
as ``fairness/assessment.json`` in a run that is a child of the model's run. A
mitigation retrains the model many times, so it runs as a job; each candidate
becomes a child run of that job holding its metrics and its model, and any of them
can be registered with ``register_candidate``.
"""

from __future__ import annotations

import builtins
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from studio_ext._poller import Poller
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.insights.inputs import (
    check_columns,
    load_dataset,
    load_model,
    resolve_dataset,
    resolve_model,
)
from studio_ext.backends.local.insights.records import InsightStore
from studio_ext.entities import InsightKind, InsightRecord, JobStatus, Model
from studio_ext.errors import InvalidInput
from studio_ext.services import FairnessOperations

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend
    from studio_ext.ml.fairness import FairnessAssessment, MitigationResult

ARTIFACT_PATH = "fairness"
ASSESSMENT_FILE = "assessment.json"
MITIGATION_FILE = "mitigation.json"
_MITIGATION_OPTIONS = ("grid_size", "max_iter", "difference_bound", "upper_bound", "test_size", "pos_label", "seed")


class LocalFairness(FairnessOperations):
    """``ws.fairness``: assess models across sensitive groups, mitigate, register candidates."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._store = InsightStore(backend, (InsightKind.ASSESSMENT, InsightKind.MITIGATION), "fairness")

    # -- assessment ----------------------------------------------------------------------
    def assess(
        self,
        model: Any,
        dataset: Any,
        target_column: str,
        sensitive_features: Sequence[str],
        *,
        features: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        pos_label: Any = None,
        allow_pickle: bool = False,
    ) -> FairnessAssessment:
        """Metrics by sensitive group and their disparities, stored with the model's run.

        Example::

            a = ws.fairness.assess("income-model:1", "azureml:adult:1", "income", ["sex"])
            a.summary["sex"]["demographic_parity_difference"]
        """
        from studio_ext.ml.fairness import assess

        source = resolve_model(self._b, model, allow_pickle=allow_pickle)
        data_source = resolve_dataset(self._b, dataset)
        check_columns(data_source, target_column, ("sensitive features", sensitive_features), ("features", features))
        result = assess(load_model(self._b, source), load_dataset(self._b, data_source), target_column,
                        sensitive_features, features=features, metrics=metrics, pos_label=pos_label)
        options = {"sensitive_features": list(result.sensitive_features), "metrics": result.metrics,
                   "features": list(features) if features else None, "pos_label": result.pos_label}
        run_id = self._store.new_run(source, "fairness assessment", {"studio_insight": InsightKind.ASSESSMENT.value,
                                                                       "model": source.reference})
        client = tracking.client(self._b.tracking_uri)
        name = f"assessment-{run_id[:12]}"
        result.metadata.update({"name": name, "run_id": run_id, "model": source.reference,
                                "dataset": data_source.reference, "target_column": target_column})
        try:
            with tempfile.TemporaryDirectory(prefix="studio-fairness-") as tmp:
                (Path(tmp) / ASSESSMENT_FILE).write_text(json.dumps(result.to_dict()), encoding="utf-8")
                client.log_artifacts(run_id, tmp, ARTIFACT_PATH)
            for key, facts in result.summary.items():
                for metric, value in facts.items():
                    client.log_metric(run_id, f"{metric}.{key.replace(' × ', '_x_')}", value)
            client.set_terminated(run_id, JobStatus.COMPLETED.mlflow_status)
            self._store.put(InsightKind.ASSESSMENT, name, {
                "model": source.to_dict(), "dataset": data_source.to_dict(), "target_column": target_column,
                "options": options, "run_id": run_id, "summary": _assessment_summary(result)})
        except BaseException:
            client.delete_run(run_id)
            raise
        return result

    # -- mitigation ----------------------------------------------------------------------
    def begin_mitigate(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str],
                       **kwargs: Any) -> Poller[MitigationResult]:
        """Start a mitigation job (same arguments as :meth:`mitigate`); ``result()`` is the MitigationResult."""
        record = self._start_mitigation(model, dataset, target_column, sensitive_features, **kwargs)
        return self._store.poller(record.name, self._mitigation)

    def _mitigation(self, name: str) -> MitigationResult:
        result = self.get(name)
        if not hasattr(result, "candidates"):
            raise InvalidInput(f"{name!r} is an assessment; candidates come from ws.fairness.mitigate(...).")
        return cast("MitigationResult", result)

    def mitigate(
        self,
        model: Any,
        dataset: Any,
        target_column: str,
        sensitive_features: Sequence[str],
        *,
        method: str = "exponentiated_gradient",
        constraint: str = "demographic_parity",
        features: Sequence[str] | None = None,
        wait: bool = True,
        timeout: float | None = None,
        allow_pickle: bool = False,
        **options: Any,
    ) -> MitigationResult | InsightRecord:
        """Mitigate ``model`` under ``constraint`` with ``method`` as a job; each candidate is a child run.

        ``method``: exponentiated_gradient, grid_search or threshold_optimizer. ``constraint``:
        demographic_parity, true_positive_rate_parity, false_positive_rate_parity,
        equalized_odds, error_rate_parity, or bounded_group_loss (regression). ``options``:
        grid_size, max_iter, difference_bound, upper_bound, test_size, pos_label, seed.
        """
        record = self._start_mitigation(model, dataset, target_column, sensitive_features, method=method,
                                        constraint=constraint, features=features, allow_pickle=allow_pickle, **options)
        if not wait:
            return record
        return self._store.poller(record.name, self._mitigation).result(timeout)

    def _start_mitigation(
        self,
        model: Any,
        dataset: Any,
        target_column: str,
        sensitive_features: Sequence[str],
        *,
        method: str = "exponentiated_gradient",
        constraint: str = "demographic_parity",
        features: Sequence[str] | None = None,
        allow_pickle: bool = False,
        **options: Any,
    ) -> InsightRecord:
        from studio_ext.ml.fairness import check_mitigation, sensitive_frame
        from studio_ext.ml.tabular_model import check_predicts, infer_classes, prepare_frame, wrap_model

        unknown = sorted(set(options) - set(_MITIGATION_OPTIONS))
        if unknown:
            raise InvalidInput(f"Unknown options {', '.join(unknown)}. Known: method, constraint, features, "
                               f"{', '.join(_MITIGATION_OPTIONS)}.")
        if isinstance(sensitive_features, str):
            sensitive_features = [sensitive_features]
        source = resolve_model(self._b, model, allow_pickle=allow_pickle)
        data_source = resolve_dataset(self._b, dataset)
        check_columns(data_source, target_column, ("sensitive features", sensitive_features), ("features", features))
        loaded = load_model(self._b, source)
        frame = load_dataset(self._b, data_source)
        sensitive_frame(frame, sensitive_features)
        X, y = prepare_frame(frame, target_column, features, model=loaded)
        tm = wrap_model(loaded)
        check_predicts(tm, X)
        infer_classes(tm, X, y)
        check_mitigation(method, constraint, tm)
        settings = {"method": str(getattr(method, "value", method)),
                    "constraint": str(getattr(constraint, "value", constraint)),
                    "sensitive_features": list(sensitive_features), "features": list(features) if features else None,
                    **options}
        display = f"mitigate {source.reference} ({settings['method']} × {settings['constraint']})"
        return self._store.submit(InsightKind.MITIGATION, source, data_source, target_column, settings, display)

    # -- reading -------------------------------------------------------------------------
    def get(self, name: str) -> FairnessAssessment | MitigationResult:
        """A stored assessment or a finished mitigation (with its candidates and their runs)."""
        from studio_ext.ml.fairness import FairnessAssessment, MitigationResult

        kind, _payload = self._store.payload(name)
        record = self._store.require_finished(name)
        if kind is InsightKind.ASSESSMENT:
            def load() -> Any:
                payload = self._store.download(record.run_id, ARTIFACT_PATH,
                                               lambda p: json.loads((p / ASSESSMENT_FILE).read_text(encoding="utf-8")))
                return FairnessAssessment.from_dict(payload)
        else:
            def load() -> Any:
                payload = self._store.download(record.run_id, ARTIFACT_PATH,
                                               lambda p: json.loads((p / MITIGATION_FILE).read_text(encoding="utf-8")))
                result = MitigationResult.from_dict(payload)
                result.metadata.update({"name": name, "job_name": record.job_name, "run_id": record.run_id})
                return result
        return self._store.cached(name, load)

    def get_record(self, name: str) -> InsightRecord:
        return self._store.record(name)

    def list(self, *, kind: str | InsightKind | None = None, model: Any = None) -> builtins.list[InsightRecord]:
        """Assessments and mitigations newest first; of one kind, or of one model."""
        kinds = None
        if kind is not None:
            try:
                kinds = (InsightKind(str(getattr(kind, "value", kind))),)
            except ValueError:
                raise InvalidInput(f"The 'kind' parameter must be 'fairness_assessment' or 'fairness_mitigation'. "
                                   f"Got {kind!r} instead.") from None
            if kinds[0] is InsightKind.EXPLANATION:
                raise InvalidInput("Explanations are listed by ws.explanations.list().")
        records = self._store.records(kinds)
        if model is not None:
            wanted = resolve_model(self._b, model).reference
            records = [r for r in records if r.model == wanted]
        return records

    def register_candidate(self, mitigation: str, candidate: int | str, *, name: str,
                           description: str | None = None) -> Model:
        """Register a mitigated candidate as a model version; its tags record how it was made."""
        result = self._mitigation(mitigation)
        chosen = result.candidate(candidate)
        if chosen.is_original:
            raise InvalidInput(
                f"Candidate {chosen.name!r} is the original model ({self._store.record(mitigation).model}), which is "
                "registered already. Pick a mitigated candidate."
            )
        tags = {
            "fairness.sensitive_features": ",".join(result.sensitive_features),
            "fairness.constraint": result.constraint.value, "fairness.method": result.method.value,
            "fairness.mitigation": mitigation, "fairness.candidate": chosen.name,
            "fairness.original_model": self._store.record(mitigation).model,
            f"fairness.{result.disparity_metric}": f"{chosen.disparity[result.disparity_metric]:.6g}",
            f"fairness.{result.performance_metric}": f"{chosen.performance[result.performance_metric]:.6g}",
        }
        # The candidate's files were written by this workspace's own mitigation job.
        return self._b.service("models").create_or_update(Model(
            name=name, path=f"runs:/{chosen.run_id}/model", description=description, tags=tags, allow_pickle=True))


def _assessment_summary(result: FairnessAssessment) -> dict[str, Any]:
    key = result.keys[0]
    return {"rows": result.rows, "overall": result.overall, **result.summary.get(key, {})}
