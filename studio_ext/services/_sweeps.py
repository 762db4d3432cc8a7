from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from studio_ext.entities._sweep import SweepJob


@runtime_checkable
class SweepOperations(Protocol):
    """``ws.sweeps``: hyperparameter sweep jobs (submitted through ``ws.jobs.create_or_update`` as on Azure).

    A sweep's trials are its child jobs; ``get`` returns the sweep with ``best_child_run_id``,
    ``best_hyperparameters`` and ``best_metric`` once it has a best trial.
    """

    def create_or_update(self, job: SweepJob, *, parent_job_name: str | None = None) -> SweepJob:
        """Check the sweep (nothing is written on bad input) and record it; the workspace's runtime runs it."""

    def get(self, name: str) -> SweepJob:
        """The sweep with its status, limits and best trial."""

    def trials(self, name: str) -> list[dict[str, Any]]:
        """Its trials: name, hyperparameters (``params``), status, primary metric (``value``), why one was stopped."""

    def metric_table(self, name: str) -> dict[str, list[float]]:
        """Each trial's primary metric as it logged it, one value per interval."""

    def replay(self, name: str, policy: Any) -> dict[str, Any]:
        """Apply an early termination policy to the sweep's recorded metrics: ``stops`` (trial -> interval,
        reason), ``saved_intervals`` of ``total_intervals``, ``saved_share``, and ``stops_best``."""

    def importance(self, name: str) -> dict[str, float]:
        """Hyperparameter importance from Optuna's fANOVA evaluator on the completed trials."""
