"""Search spaces as dimensions: each distribution maps a number in [0, 1) to a value, as Azure defines it.

A space is ``{name: distribution}``. A ``Choice`` whose values are dicts is a nested space:
choosing one puts its keys (fixed values or distributions of their own) among the
hyperparameters. :func:`dimensions` lists every distribution, nested ones with a path
(``"model/1/C"``: the ``C`` of the second value of ``model``), so a sampler draws one
number per dimension and :func:`point` builds the hyperparameters from them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from studio_ext.entities._sweep import (
    Choice,
    LogNormal,
    LogUniform,
    Normal,
    QLogNormal,
    QLogUniform,
    QNormal,
    QUniform,
    Randint,
    SweepDistribution,
    Uniform,
)
from studio_ext.errors import InvalidInput


@dataclass(frozen=True)
class Dimension:
    path: str
    distribution: SweepDistribution


def check(space: Mapping[str, Any]) -> None:
    """Refuse a space Azure would refuse: no dimensions, bad bounds, empty choices."""
    if not space:
        raise InvalidInput("The sweep has no search space. Give at least one hyperparameter as a distribution, "
                           "as in command_job(reg_rate=Choice([0.01, 0.1, 1])).")
    for dim in dimensions(space):
        d, name = dim.distribution, dim.path
        if isinstance(d, Choice) and not d.values:
            raise InvalidInput(f"The search space {name!r} is a Choice with no values.")
        if isinstance(d, Randint) and (not isinstance(d.upper, int) or d.upper < 1):
            raise InvalidInput(f"The search space {name!r} is Randint(upper={d.upper!r}); upper must be an integer >= 1.")
        if isinstance(d, (Uniform, LogUniform, QUniform, QLogUniform)) and not d.min_value < d.max_value:
            raise InvalidInput(f"The search space {name!r} needs min_value < max_value. Got {d.min_value!r} and "
                               f"{d.max_value!r}.")
        if isinstance(d, (Normal, LogNormal, QNormal, QLogNormal)) and not d.sigma > 0:
            raise InvalidInput(f"The search space {name!r} needs sigma > 0. Got {d.sigma!r}.")
        if isinstance(d, (QUniform, QLogUniform, QNormal, QLogNormal)) and not d.q > 0:
            raise InvalidInput(f"The search space {name!r} needs q > 0. Got {d.q!r}.")


def dimensions(space: Mapping[str, Any], prefix: str = "") -> list[Dimension]:
    out: list[Dimension] = []
    for name, dist in space.items():
        if not isinstance(dist, SweepDistribution):
            continue
        path = f"{prefix}{name}"
        out.append(Dimension(path, dist))
        if isinstance(dist, Choice):
            for i, value in enumerate(dist.values):
                if isinstance(value, Mapping):
                    out.extend(dimensions(value, f"{path}/{i}/"))
    return out


def names(space: Mapping[str, Any]) -> set[str]:
    """Every hyperparameter name a point of the space may hold (a nested Choice's keys included)."""
    found: set[str] = set()
    for name, dist in space.items():
        nested = [v for v in dist.values if isinstance(v, Mapping)] if isinstance(dist, Choice) else []
        if len(nested) < len(getattr(dist, "values", [])) or not nested:
            found.add(name)
        for value in nested:
            found |= names(value)
    return found


def value_of(dist: SweepDistribution, u: float) -> Any:
    """The value of ``dist`` at ``u`` in [0, 1): the inverse of its distribution function."""
    u = min(max(u, 0.0), math.nextafter(1.0, 0.0))
    if isinstance(dist, Choice):
        return dist.values[min(int(u * len(dist.values)), len(dist.values) - 1)]
    if isinstance(dist, Randint):
        return min(int(u * dist.upper), dist.upper - 1)
    if isinstance(dist, (Uniform, LogUniform, QUniform, QLogUniform)):
        x = dist.min_value + u * (dist.max_value - dist.min_value)
    else:
        from scipy.stats import norm

        x = float(dist.mu + dist.sigma * norm.ppf(min(max(u, 1e-12), 1 - 1e-12)))  # type: ignore[attr-defined]
    if isinstance(dist, (LogUniform, QLogUniform, LogNormal, QLogNormal)):
        x = math.exp(x)
    if isinstance(dist, (QUniform, QLogUniform, QNormal, QLogNormal)):
        x = round(x / dist.q) * dist.q
        if float(dist.q).is_integer():
            return int(x)
    return float(x)


def point(space: Mapping[str, Any], draws: Mapping[str, float], prefix: str = "") -> dict[str, Any]:
    """The hyperparameters for one draw per dimension path (missing draws count as 0.5)."""
    out: dict[str, Any] = {}
    for name, dist in space.items():
        path = f"{prefix}{name}"
        if not isinstance(dist, SweepDistribution):
            out[name] = dist
            continue
        value = value_of(dist, draws.get(path, 0.5))
        if isinstance(dist, Choice) and isinstance(value, Mapping):
            index = next(i for i, v in enumerate(dist.values) if v is value)
            out.update(point(value, draws, f"{path}/{index}/"))
        else:
            out[name] = value
    return out


def grid(space: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every combination of a discrete space, in order (refused for any other distribution)."""
    for dim in dimensions(space):
        if not isinstance(dim.distribution, Choice):
            raise InvalidInput(
                f"Grid sampling takes only Choice search spaces (it tries every combination of discrete values); "
                f"{dim.path!r} is {type(dim.distribution).__name__}. Use Choice([...]) for it, or "
                "sampling_algorithm='random' or 'bayesian'.")
    yield from _grid(space)


def _grid(space: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    options: list[list[dict[str, Any]]] = []
    for name, dist in space.items():
        if not isinstance(dist, Choice):
            options.append([{name: dist}])
            continue
        these: list[dict[str, Any]] = []
        for value in dist.values:
            if isinstance(value, Mapping):
                these.extend(_grid(value))
            else:
                these.append({name: value})
        options.append(these)
    for combo in itertools.product(*options):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        yield merged
