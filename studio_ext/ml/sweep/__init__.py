"""Hyperparameter sweep engines (pure): search spaces, samplers, early termination policies.

- :mod:`.space`: distributions as dimensions (a draw in [0, 1) -> a value), grids, nested choices;
- :mod:`.samplers`: grid, random (``random``/``sobol``) and Bayesian (Optuna's TPE, ask/tell);
- :mod:`.policies`: Bandit, median stopping and truncation selection over metric tables.
"""

from studio_ext.ml.sweep import policies, samplers, space
from studio_ext.ml.sweep.policies import Stop, check, replay
from studio_ext.ml.sweep.samplers import Sampler, make

__all__ = ["Sampler", "Stop", "check", "make", "policies", "replay", "samplers", "space"]
