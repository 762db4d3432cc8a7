"""Records of explanations and fairness results: what was asked, where it runs, how it ended.

The results themselves (``Explanation``, ``FairnessAssessment``, ``MitigationResult``)
live in ``studio_ext.ml``; a record is the small entry lists and pickers show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._enum import ValueEnum
from studio_ext.entities._job import JobStatus


class InsightKind(ValueEnum):
    """What a record holds."""

    EXPLANATION = "explanation"
    ASSESSMENT = "fairness_assessment"
    MITIGATION = "fairness_mitigation"


@dataclass(kw_only=True)
class InsightRecord:
    """An explanation, assessment or mitigation of a model on a dataset.

    ``job_name`` is the job that computes it (explanations and mitigations run as jobs,
    children of the model's training job when there is one); ``run_id`` is the MLflow
    run whose artifacts hold the result.
    """

    name: str
    kind: InsightKind
    model: str  # azureml:NAME:VERSION or runs:/RUN/PATH
    dataset: str  # azureml:NAME:VERSION or (DataFrame)
    target_column: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # explainer, sensitive features, constraint ...
    status: JobStatus = JobStatus.NOT_STARTED
    job_name: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None  # the model's run
    creation_time: datetime | None = None
    progress: float | None = None  # 0..1 while a job runs
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # top features, disparity ... once finished

    @property
    def title(self) -> str:
        """A one-line label for pickers: kind, model, dataset and the main option."""
        main = self.options.get("explainer") or self.options.get("method") or ""
        sens = self.options.get("sensitive_features")
        extra = f" [{main}]" if main else ""
        extra += f" by {', '.join(sens)}" if sens else ""
        return f"{self.name}: {self.kind.value} of {self.model} on {self.dataset}{extra} ({self.status})"
