"""``from studio_ext import sweep``: the names of ``azure.ai.ml.sweep``, for sweep jobs built in studio_ext.

Example::

    from studio_ext import command
    from studio_ext.sweep import Choice, Uniform, BanditPolicy

    job = command(code="./src", command="python train.py --reg ${{inputs.reg_rate}}", inputs={"reg_rate": 0.01})
    sweep_job = job(reg_rate=Choice([0.01, 0.1, 1])).sweep(
        compute="aml-cluster", sampling_algorithm="grid", primary_metric="accuracy", goal="Maximize")
    sweep_job.set_limits(max_total_trials=3, max_concurrent_trials=2)
    ws.jobs.create_or_update(sweep_job)
"""

from studio_ext.entities._sweep import (
    BanditPolicy,
    BayesianSamplingAlgorithm,
    Choice,
    EarlyTerminationPolicy,
    GridSamplingAlgorithm,
    LogNormal,
    LogUniform,
    MedianStoppingPolicy,
    Normal,
    Objective,
    QLogNormal,
    QLogUniform,
    QNormal,
    QUniform,
    Randint,
    RandomSamplingAlgorithm,
    SamplingAlgorithm,
    SweepDistribution,
    SweepJob,
    SweepJobLimits,
    TruncationSelectionPolicy,
    Uniform,
)

__all__ = [
    "BanditPolicy",
    "BayesianSamplingAlgorithm",
    "Choice",
    "EarlyTerminationPolicy",
    "GridSamplingAlgorithm",
    "LogNormal",
    "LogUniform",
    "MedianStoppingPolicy",
    "Normal",
    "Objective",
    "QLogNormal",
    "QLogUniform",
    "QNormal",
    "QUniform",
    "Randint",
    "RandomSamplingAlgorithm",
    "SamplingAlgorithm",
    "SweepDistribution",
    "SweepJob",
    "SweepJobLimits",
    "TruncationSelectionPolicy",
    "Uniform",
]
