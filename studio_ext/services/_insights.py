from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities import InsightRecord, Model


@runtime_checkable
class ExplanationOperations(Protocol):
    """``ws.explanations``: explain a model on a dataset as a job; read the stored results."""

    def create(self, model: Any, dataset: Any, target_column: str | None = None, *, explainer: str = "auto",
               features: Sequence[str] | None = None, classes: Sequence[Any] | None = None,
               sample: int | None = None, wait: bool = True, timeout: float | None = None,
               **options: Any) -> Any: ...

    def begin_create(self, model: Any, dataset: Any, target_column: str | None = None, **options: Any) -> Poller[Any]: ...

    def get(self, name: str) -> Any: ...

    def get_record(self, name: str) -> InsightRecord: ...

    def list(self, *, model: Any = None, run_id: str | None = None) -> list[InsightRecord]: ...

    def for_run(self, run: str) -> list[InsightRecord]: ...


@runtime_checkable
class FairnessOperations(Protocol):
    """``ws.fairness``: assess a model across sensitive groups, mitigate, register a candidate."""

    def assess(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str], *,
               features: Sequence[str] | None = None, metrics: Sequence[str] | None = None, **options: Any) -> Any: ...

    def mitigate(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str], *,
                 method: str = "exponentiated_gradient", constraint: str = "demographic_parity",
                 features: Sequence[str] | None = None, wait: bool = True, timeout: float | None = None,
                 **options: Any) -> Any: ...

    def begin_mitigate(self, model: Any, dataset: Any, target_column: str, sensitive_features: Sequence[str],
                       **options: Any) -> Poller[Any]: ...

    def get(self, name: str) -> Any: ...

    def get_record(self, name: str) -> InsightRecord: ...

    def list(self, *, kind: str | None = None, model: Any = None) -> list[InsightRecord]: ...

    def register_candidate(self, mitigation: str, candidate: int | str, *, name: str,
                           description: str | None = None) -> Model: ...
