"""``ws.explanations`` on the local backend: explanation jobs and their stored results.

``create`` checks everything it can in this process first (the references, the
columns, the sample size, the explainer against the model), then runs the
explanation as a job so a long SHAP computation never blocks the notebook. The
job stores the :class:`~studio_ext.ml.explain.Explanation` as artifacts of its run
(``explanation/``: JSON, NumPy and Parquet, no pickles).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from studio_ext._poller import Poller
from studio_ext.backends.local.insights.inputs import (
    check_columns,
    load_dataset,
    load_model,
    resolve_dataset,
    resolve_model,
)
from studio_ext.backends.local.insights.records import InsightStore
from studio_ext.entities import InsightKind, InsightRecord
from studio_ext.errors import InvalidInput
from studio_ext.services import ExplanationOperations

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend
    from studio_ext.ml.explain import Explanation

ARTIFACT_PATH = "explanation"
_OPTIONS = ("algorithm", "surrogate", "metric", "repeats", "background", "seed", "task")


class LocalExplanations(ExplanationOperations):
    """``ws.explanations``: explain models on datasets; get and list the results."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._store = InsightStore(backend, (InsightKind.EXPLANATION,), "explanations")

    def begin_create(self, model: Any, dataset: Any, target_column: str | None = None, **kwargs: Any) -> Poller[Explanation]:
        """Start an explanation job (same arguments as :meth:`create`); ``result()`` is the Explanation."""
        record = self._start(model, dataset, target_column, **kwargs)
        return self._store.poller(record.name, self.get)

    def create(
        self,
        model: Any,
        dataset: Any,
        target_column: str | None = None,
        *,
        explainer: str = "auto",
        features: Sequence[str] | None = None,
        classes: Sequence[Any] | None = None,
        sample: int | None = None,
        wait: bool = True,
        timeout: float | None = None,
        allow_pickle: bool = False,
        **options: Any,
    ) -> Explanation | InsightRecord:
        """Explain ``model`` on ``dataset`` as a job; with ``wait`` (default) return the Explanation.

        ``explainer``: 'auto'/'tabular' (SHAP), 'mimic' or 'pfi'. ``options``: ``algorithm``
        (auto/tree/linear/kernel/permutation), ``surrogate`` (lightgbm/linear/decision_tree),
        ``metric`` and ``repeats`` (pfi), ``background``, ``seed``, ``task``. Without ``wait``
        the record of the queued job is returned.

        Example::

            exp = ws.explanations.create("income-model:1", "azureml:adult:1", "income", explainer="mimic")
            exp.global_importance
        """
        record = self._start(model, dataset, target_column, explainer=explainer, features=features,
                             classes=classes, sample=sample, allow_pickle=allow_pickle, **options)
        if not wait:
            return record
        return self._store.poller(record.name, self.get).result(timeout)

    def _start(
        self,
        model: Any,
        dataset: Any,
        target_column: str | None = None,
        *,
        explainer: str = "auto",
        features: Sequence[str] | None = None,
        classes: Sequence[Any] | None = None,
        sample: int | None = None,
        allow_pickle: bool = False,
        **options: Any,
    ) -> InsightRecord:
        from studio_ext.ml.explain import explain

        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise InvalidInput(f"Unknown options {', '.join(unknown)}. Known: explainer, features, classes, sample, "
                               f"{', '.join(_OPTIONS)}.")
        source = resolve_model(self._b, model, allow_pickle=allow_pickle)
        data_source = resolve_dataset(self._b, dataset)
        check_columns(data_source, target_column, ("features", features))
        settings = {"explainer": str(getattr(explainer, "value", explainer)),
                    "features": list(features) if features else None,
                    "classes": [str(c) for c in classes] if classes else None, "sample": sample, **options}
        # Every check of the engine runs here, on a few rows, before the job is queued.
        loaded = load_model(self._b, source)
        frame = load_dataset(self._b, data_source)
        explain(loaded, frame, target_column, dry_run=True, **settings)
        display = f"explain {source.reference} ({settings['explainer']})"
        return self._store.submit(InsightKind.EXPLANATION, source, data_source, target_column, settings, display)

    def get(self, name: str) -> Explanation:
        """The stored Explanation of a finished explanation job."""
        from studio_ext.ml.explain import Explanation

        record = self._store.require_finished(name)

        def load() -> Explanation:
            exp = self._store.download(record.run_id, ARTIFACT_PATH, Explanation.load)
            exp.metadata.update({"name": name, "job_name": record.job_name, "run_id": record.run_id,
                                 "model": record.model, "dataset": record.dataset,
                                 "target_column": record.target_column})
            return exp

        return self._store.cached(name, load)

    def get_record(self, name: str) -> InsightRecord:
        return self._store.record(name)

    def list(self, *, model: Any = None, run_id: str | None = None) -> builtins.list[InsightRecord]:
        """Explanations newest first; of one model (a reference or Model) or one model run."""
        records = self._store.records()
        if model is not None:
            wanted = resolve_model(self._b, model).reference
            records = [r for r in records if r.model == wanted]
        if run_id is not None:
            records = [r for r in records if r.parent_run_id == run_id or r.run_id == run_id]
        return records

    def for_run(self, run: str) -> builtins.list[InsightRecord]:
        """Explanations of the model a job or run produced (for a run's page, or AutoML's best model)."""
        job = self._b.service("jobs").get(run)
        return self.list(run_id=job.run_id)

