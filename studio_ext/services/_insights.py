from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities import InsightRecord, Model

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.ml.explain import Explanation
    from studio_ext.ml.fairness import FairnessAssessment, MitigationResult


@runtime_checkable
class ExplanationOperations(Protocol):
    """``ws.explanations``: explain a model on a dataset as a job; read the stored results.

    ``model`` and ``dataset`` are what the user holds: a registered model ('name:version',
    a Model), a dataset reference ('azureml:name:version', a Data) or in-memory objects.
    """

    def create(self, model: Any, dataset: Any, target_column: str | None = None, *, explainer: str = "auto",
               features: Sequence[str] | None = None, classes: Sequence[Any] | None = None,
               sample: int | None = None, wait: bool = True, timeout: float | None = None,
               **options: Any) -> Explanation | InsightRecord:
        """The Explanation with ``wait``; the record of the queued job without."""
        ...

    def begin_create(self, model: Any, dataset: Any, target_column: str | None = None,
                     **options: Any) -> Poller[Explanation]: ...

    def get(self, name: str) -> Explanation: ...

    def get_record(self, name: str) -> InsightRecord: ...

    def list(self, *, model: Any = None, run_id: str | None = None) -> builtins.list[InsightRecord]: ...

    def for_run(self, run: str) -> builtins.list[InsightRecord]: ...


@runtime_checkable
class FairnessOperations(Protocol):
    """``ws.fairness``: assess a model across sensitive groups, mitigate, register a candidate."""

    def assess(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str], *,
               features: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
               pos_label: Any = None, allow_pickle: bool = False) -> FairnessAssessment:
        """``allow_pickle``: load a model stored as a pickle (only from a source you trust)."""
        ...

    def mitigate(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str], *,
                 method: str = "exponentiated_gradient", constraint: str = "demographic_parity",
                 features: Sequence[str] | None = None, wait: bool = True, timeout: float | None = None,
                 **options: Any) -> MitigationResult | InsightRecord:
        """The MitigationResult with ``wait``; the record of the queued job without."""
        ...

    def begin_mitigate(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str],
                       **options: Any) -> Poller[MitigationResult]: ...

    def get(self, name: str) -> FairnessAssessment | MitigationResult: ...

    def get_record(self, name: str) -> InsightRecord: ...

    def list(self, *, kind: str | None = None, model: Any = None) -> builtins.list[InsightRecord]: ...

    def register_candidate(self, mitigation: str, candidate: int | str, *, name: str,
                           description: str | None = None) -> Model: ...
