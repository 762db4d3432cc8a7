"""Search spaces and samplers: Azure's distributions, grid/random/sobol/Bayesian, and what each refuses."""

from __future__ import annotations

import math

import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.sweep import samplers, space
from studio_ext.sweep import (
    BanditPolicy,
    BayesianSamplingAlgorithm,
    Choice,
    GridSamplingAlgorithm,
    LogNormal,
    LogUniform,
    Normal,
    QLogNormal,
    QLogUniform,
    QNormal,
    QUniform,
    Randint,
    RandomSamplingAlgorithm,
    Uniform,
)

EVERY_KIND = {
    "c": Choice([1, 2, 3]), "r": Randint(upper=5), "u": Uniform(min_value=0.1, max_value=1.0),
    "qu": QUniform(min_value=1, max_value=10, q=2), "lu": LogUniform(min_value=math.log(1e-3), max_value=math.log(1)),
    "qlu": QLogUniform(min_value=0, max_value=math.log(100), q=1), "n": Normal(mu=10, sigma=2),
    "qn": QNormal(mu=10, sigma=2, q=1), "ln": LogNormal(mu=0, sigma=1), "qln": QLogNormal(mu=1, sigma=1, q=1),
}


def test_every_distribution_samples_in_its_range() -> None:
    s = samplers.make(RandomSamplingAlgorithm(seed=3), EVERY_KIND, seed=0)
    points = [s.suggest() for _ in range(300)]
    for p in points:
        assert p is not None
        assert p["c"] in (1, 2, 3) and p["r"] in range(5)
        assert 0.1 <= p["u"] <= 1.0 and p["qu"] % 2 == 0 and 0 <= p["qu"] <= 10
        assert 1e-3 <= p["lu"] <= 1 and isinstance(p["qlu"], int) and 1 <= p["qlu"] <= 100
        assert p["ln"] > 0 and isinstance(p["qn"], int) and isinstance(p["qln"], int)
    normals = [p["n"] for p in points]
    assert abs(sum(normals) / len(normals) - 10) < 0.5
    logs = sorted(p["lu"] for p in points)
    assert logs[len(logs) // 2] < 0.1  # log-uniform: the median is near exp(mean of the logs) = 0.03


def test_random_is_seeded_and_sobol_is_balanced() -> None:
    a = samplers.make(RandomSamplingAlgorithm(seed=7), EVERY_KIND, seed=0)
    b = samplers.make(RandomSamplingAlgorithm(seed=7), EVERY_KIND, seed=99)
    assert [a.suggest() for _ in range(5)] == [b.suggest() for _ in range(5)]
    sob = samplers.make(RandomSamplingAlgorithm(seed=1, rule="sobol"), {"u": Uniform(min_value=0, max_value=1)}, seed=0)
    values = [sob.suggest()["u"] for _ in range(16)]  # type: ignore[index]
    assert sorted(int(v * 4) for v in values) == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4  # 4 in each quarter
    with pytest.raises(InvalidInput, match="'random' or 'sobol'"):
        samplers.make(RandomSamplingAlgorithm(rule="halton"), EVERY_KIND, seed=0)


def test_restore_continues_where_it_was() -> None:
    a = samplers.make(RandomSamplingAlgorithm(), EVERY_KIND, seed=5)
    first = [a.suggest() for _ in range(6)]
    b = samplers.make(RandomSamplingAlgorithm(), EVERY_KIND, seed=5)
    b.restore([(p, 1.0, "Completed") for p in first[:4]])  # type: ignore[misc]
    assert [b.suggest(), b.suggest()] == first[4:]


def test_grid_every_combination_and_nested_choice() -> None:
    g = samplers.make(GridSamplingAlgorithm(), {"lr": Choice([0.1, 1]), "opt": Choice(["a", "b", "c"])}, seed=0)
    assert g.size() == 6
    got = [g.suggest() for _ in range(7)]
    assert got[-1] is None and {(p["lr"], p["opt"]) for p in got[:6]} == {(x, y) for x in (0.1, 1) for y in "abc"}
    nested = {"model": Choice([{"kind": "svm", "C": Choice([1, 10])}, {"kind": "tree", "depth": Choice([2, 4, 8])}])}
    points = list(space.grid(nested))
    assert len(points) == 5 and {"kind": "tree", "depth": 8} in points and {"kind": "svm", "C": 1} in points
    assert space.names(nested) == {"kind", "C", "depth"}
    r = samplers.make(RandomSamplingAlgorithm(seed=1), {"model": Choice([{"kind": "svm", "C": Uniform(min_value=1,
                      max_value=2)}, {"kind": "tree", "depth": Randint(upper=4)}])}, seed=0)
    kinds = {p["kind"]: p for p in (r.suggest() for _ in range(20)) if p}
    assert set(kinds) == {"svm", "tree"} and 1 <= kinds["svm"]["C"] <= 2 and "C" not in kinds["tree"]


def test_grid_refuses_continuous_spaces_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="Grid sampling takes only Choice.*'C' is Uniform"):
        samplers.check(GridSamplingAlgorithm(), {"k": Choice([1]), "C": Uniform(min_value=0, max_value=1)}, None)


def test_bayesian_through_optuna_ask_tell() -> None:
    sp = {"x": Uniform(min_value=-3, max_value=3), "k": Choice(["a", "b"]), "q": QUniform(min_value=0, max_value=10, q=2)}
    samplers.check(BayesianSamplingAlgorithm(), sp, None)
    s = samplers.make(BayesianSamplingAlgorithm(), sp, seed=0, goal="minimize")
    best = math.inf
    for i in range(30):
        p = s.suggest()
        assert p is not None and p["q"] in (0, 2, 4, 6, 8, 10) and p["k"] in "ab"
        value = (p["x"] - 1) ** 2 + (0 if p["k"] == "b" else 1) + abs(p["q"] - 4)
        best = min(best, value)
        s.tell(i, value, "Failed" if i == 3 else "Completed")
    assert best < 0.5  # TPE finds the valley (x=1, k=b, q=4) within 30 trials
    assert s.study.best_params["k"] == "b"


def test_bayesian_refusals() -> None:
    with pytest.raises(InvalidInput, match="does not support early termination"):
        samplers.check(BayesianSamplingAlgorithm(), {"x": Uniform()}, BanditPolicy(slack_factor=0.1))
    with pytest.raises(InvalidInput, match="only Choice, Uniform and QUniform.*'x' is LogUniform"):
        samplers.check(BayesianSamplingAlgorithm(), {"x": LogUniform()}, None)


def test_bad_spaces() -> None:
    with pytest.raises(InvalidInput, match="no search space"):
        space.check({})
    with pytest.raises(InvalidInput, match="min_value < max_value"):
        space.check({"u": Uniform(min_value=2, max_value=1)})
    with pytest.raises(InvalidInput, match="Choice with no values"):
        space.check({"c": Choice([])})
