"""The privacy loss of several releases together, as OpenDP's composition combinator maps it.

Each past release is stood in for by a measurement whose privacy map returns the
loss that release was charged; ``make_composition`` over them maps the total. For
the (epsilon, delta) losses the studio charges (Laplace and exponential mechanisms
under approximate DP), OpenDP composes sequentially: the epsilons add and the
deltas add. The ledger asks OpenDP rather than adding itself, so a tighter rule in
the library is picked up where it applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def compose(losses: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The (epsilon, delta) of all ``losses`` composed; (0, 0) for none."""
    import opendp.prelude as dp

    items = [(float(e), float(d)) for e, d in losses]
    if not items:
        return 0.0, 0.0
    if len(items) == 1:
        return items[0]
    dp.enable_features("contrib", "honest-but-curious")
    measure = dp.approximate(dp.max_divergence())
    domain, metric = dp.atom_domain(T=bool), dp.discrete_distance()

    def stand_in(loss: tuple[float, float]) -> Any:
        return dp.m.make_user_measurement(domain, metric, measure, function=lambda x: x,
                                          privacy_map=lambda _d_in: loss)

    total = dp.c.make_composition([stand_in(loss) for loss in items]).map(1)
    return float(total[0]), float(total[1])
