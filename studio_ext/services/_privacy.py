from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.entities import Data
    from studio_ext.ml.privacy import Comparison, PrivacyBudget, PrivacyMetadata, PrivacyQueryRecord, PrivateResult


@runtime_checkable
class PrivacyOperations(Protocol):
    """``ws.privacy`` (a studio extra; Azure ML has no such group): differentially private
    statistics and SQL over registered tabular datasets, with a privacy budget per dataset version.

    ``dataset`` is 'name:version', 'azureml:name:version', a name (its latest version) or a Data.
    Every query charges the dataset's budget (composed as OpenDP composes losses) in the same
    transaction as its run record, and is refused before it runs when the budget would be passed.
    """

    def describe(self, dataset: Any) -> PrivacyMetadata: ...

    def set_metadata(self, dataset: Any, *, columns: Mapping[str, Mapping[str, Any]] | None = None,
                     identifier: str | None = None, max_rows_per_individual: int | None = None,
                     max_rows: int | None = None, budget_epsilon: float | None = None,
                     budget_delta: float | None = None, protected: bool | None = None,
                     confirm: Sequence[str] | bool = (), new_budget: bool = False) -> PrivacyMetadata:
        """``confirm`` names the bounds equal to an observed min or max that are public anyway
        ('Age.lower'), or True for all; ``new_budget``: this version shares no rows with the
        previous one, so it starts a budget of its own."""
        ...

    def budget(self, dataset: Any) -> PrivacyBudget: ...

    def history(self, dataset: Any) -> builtins.list[PrivacyQueryRecord]: ...

    def query(self, dataset: Any, sql: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult: ...

    def count(self, dataset: Any, *, epsilon: float, delta: float = 0.0) -> PrivateResult: ...

    def sum(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult: ...

    def mean(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult: ...

    def variance(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult: ...

    def covariance(self, dataset: Any, columns: Sequence[str], *, epsilon: float,
                   delta: float = 0.0) -> PrivateResult: ...

    def quantiles(self, dataset: Any, column: str, quantiles: Sequence[float] = (0.25, 0.5, 0.75), *,
                  epsilon: float, delta: float = 0.0) -> PrivateResult: ...

    def histogram(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0,
                  bins: int | Sequence[float] | None = None) -> PrivateResult: ...

    def compare(self, dataset: Any, query: str, epsilons: Sequence[float] = (0.1, 0.5, 1, 5), repeats: int = 20,
                *, delta: float = 0.0) -> Comparison:
        """Exact against noisy answers for teaching, on data the user owns: spends no budget
        (it reveals exact values) and is refused on a dataset marked protected."""
        ...

    def synthesize(self, dataset: Any, *, epsilon: float, method: str = "aim", rows: int | None = None,
                   columns: Sequence[str] | None = None, name: str | None = None) -> Data:
        """Private synthetic rows from an OpenDP contingency table (AIM or MST), registered as a new
        tabular dataset whose tags record its source, method and epsilon. The release spends the
        original's budget once; queries on the synthetic dataset spend none of it."""
        ...
