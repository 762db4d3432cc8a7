from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from studio_ext.entities import InsightRecord, ManagedOnlineEndpoint, Model
from studio_ext.entities._automl import AutoMLJob, AutoMLRun, AutoMLTrial

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from studio_ext.ml.explain import Explanation


# What check() and get_report() return, stated by what callers read: the AutoML engine's
# own classes satisfy these, and a backend that checks elsewhere returns its own.
class AutoMLValidation(Protocol):
    @property
    def description(self) -> str:
        """How the run validates, in words ("5-fold cross-validation", ...)."""
        ...


class AutoMLCheck(Protocol):
    """What ``ws.automl.check`` decided before a run: validation and guardrails."""

    @property
    def validation(self) -> AutoMLValidation: ...

    @property
    def guardrails(self) -> builtins.list[Any]:
        """The data guardrails, each with ``name``, ``status`` (Passed/Done/Alerted) and ``description``."""
        ...


class AutoMLReport(Protocol):
    """The best model's charts as data (a classification or a regression report)."""

    @property
    def metrics(self) -> dict[str, float]: ...

    def to_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class AutoMLOperations(Protocol):
    """``ws.automl``: AutoML jobs: check before a run, submit, leaderboard, best model, report, code."""

    def supported_algorithms(self, task: str) -> builtins.list[str]:
        """The algorithm names a job of ``task`` ('classification', 'regression', 'forecasting') may allow
        or block, in the backend's order of preference."""
        ...

    def supported_primary_metrics(self, task: str) -> builtins.list[str]:
        """The primary metrics a job of ``task`` may optimize, named as Azure ML names them."""
        ...

    def warm_up(self, wait: float = 0.0) -> bool:
        """Prepare for a submit that is likely soon (the wizard calls it after a check).

        Returns whether the backend is ready within ``wait`` seconds; a backend with
        nothing to prepare returns True at once. Never required before a submit.
        """
        ...

    def check(self, job: AutoMLJob, *, guardrails: bool = True) -> AutoMLCheck: ...

    def create_or_update(self, job: AutoMLJob, *, parent_job_name: str | None = None) -> AutoMLJob: ...

    def get(self, name: str) -> AutoMLRun: ...

    def list_trials(self, name: str, *, metric: str | None = None) -> builtins.list[AutoMLTrial]: ...

    def get_report(self, name: str, *, data: str = "validation") -> AutoMLReport: ...

    def get_explanation(self, name: str) -> pd.DataFrame: ...

    def get_predictions(self, name: str) -> pd.DataFrame: ...

    def explain_best_model(self, name: str, *, explainer: str = "auto", sample: int | None = None,
                           wait: bool = False, timeout: float | None = None) -> Explanation | InsightRecord:
        """The explanation (with ``wait``) or the record of its queued job (without)."""
        ...

    def list_explanations(self, name: str) -> builtins.list[InsightRecord]: ...

    def test_model(self, name: str, data: Any) -> pd.DataFrame: ...

    def register_best_model(self, name: str, model_name: str, *, description: str | None = None,
                            tags: dict[str, str] | None = None) -> Model: ...

    def deploy_best_model(self, name: str, endpoint_name: str, *, model_name: str | None = None,
                          deployment_name: str = "blue") -> ManagedOnlineEndpoint: ...

    def to_yaml(self, job: AutoMLJob) -> str: ...

    def to_code(self, job: AutoMLJob, *, azure: bool = False) -> str: ...
