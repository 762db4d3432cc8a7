"""``ws.privacy`` on the local backend.

The metadata of a dataset version and its budget ledger live in the metadata store
(``privacy_metadata``, ``privacy_ledger``, ``privacy_queries``). A query is planned
first (bad input is refused there, with nothing charged); then one transaction takes
the ledger row's write lock, composes the past charges with the new one through
OpenDP, refuses when the budget would be passed, and writes the run record and the
new total; only then does OpenDP release the answer. Concurrent queries therefore
queue on the ledger row and can never overspend.

Budgets and versions: a new version spends the budget of the version before it (its
rows are assumed to overlap) unless ``set_metadata(..., new_budget=True)`` states it
shares no rows with it.
"""

from __future__ import annotations

import builtins
import contextlib
import getpass
import json
import os
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.core.schema import privacy_ledger, privacy_metadata, privacy_queries
from studio_ext.backends.local.core.store import now
from studio_ext.entities import Data, DataType
from studio_ext.errors import BudgetExceeded, InvalidInput, NotFound
from studio_ext.services import PrivacyOperations

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from studio_ext.backends.local import LocalBackend
    from studio_ext.ml.privacy import (
        Comparison,
        Plan,
        PrivacyBudget,
        PrivacyMetadata,
        PrivacyQueryRecord,
        PrivateResult,
        PrivateTable,
    )

_REF = re.compile(r"^(?:azureml:)?([A-Za-z0-9][A-Za-z0-9_.-]*?)(?::(\d+)|@(latest))?$")
_SLACK = 1e-9  # float rounding of composed losses


class LocalPrivacy(PrivacyOperations):
    """``ws.privacy``: see :class:`studio_ext.services.PrivacyOperations`."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}  # versions are immutable
        self._polars: dict[tuple[str, str], Any] = {}  # the same tables as polars frames, for OpenDP
        self._lock = threading.Lock()

    # -- datasets -------------------------------------------------------------------------
    def _entity(self, dataset: Any) -> Data:
        data = self._b.service("data")
        if isinstance(dataset, Data) or hasattr(dataset, "name") and hasattr(dataset, "version"):
            entity = data.get(dataset.name, dataset.version)
        elif isinstance(dataset, str) and (m := _REF.match(dataset)):
            entity = data.get(m.group(1), m.group(2))
        else:
            raise InvalidInput(f"Name a registered dataset as 'name:version', 'azureml:name:version', a name "
                               f"(its latest version) or a Data; got {dataset!r}.")
        if str(entity.type) != "tabular":
            raise InvalidInput(f"Dataset {entity.name!r} version {entity.version} is a {entity.type} dataset; "
                               "private statistics need a tabular one. Register the table with type='tabular'.")
        return entity

    def _frame(self, entity: Data) -> pd.DataFrame:
        key = (entity.name, str(entity.version))
        with self._lock:
            frame = self._frames.get(key)
        if frame is None:
            frame = self._b.service("data").load(entity.name, entity.version)
            with self._lock:
                self._frames[key] = frame
        return frame

    def _stored(self, entity: Data) -> tuple[PrivacyMetadata, str] | None:
        from studio_ext.ml.privacy import PrivacyMetadata

        with self._b.store.engine.connect() as conn:
            row = conn.execute(sa.select(privacy_metadata.c.payload, privacy_metadata.c.budget_version).where(
                privacy_metadata.c.dataset == entity.name,
                privacy_metadata.c.version == str(entity.version))).first()
        return None if row is None else (PrivacyMetadata.from_dict(json.loads(row.payload)), row.budget_version)

    def _metadata(self, entity: Data) -> tuple[PrivacyMetadata, str]:
        stored = self._stored(entity)
        if stored is None:
            raise NotFound(f"Dataset {entity.name}:{entity.version} has no privacy metadata yet. Set its public "
                           f"bounds and budget first: ws.privacy.set_metadata('{entity.name}:{entity.version}', "
                           "columns={'Age': {'lower': 0, 'upper': 120}}, budget_epsilon=3.0).")
        return stored

    # -- metadata ---------------------------------------------------------------------------
    def describe(self, dataset: Any) -> PrivacyMetadata:
        """The stored metadata; for a version without any, the column types from its schema (no bounds)."""
        from studio_ext.ml.privacy import infer_metadata

        entity = self._entity(dataset)
        stored = self._stored(entity)
        if stored is not None:
            return stored[0]
        return infer_metadata(self._frame(entity).head(1000))

    def set_metadata(self, dataset: Any, *, columns: Mapping[str, Mapping[str, Any]] | None = None,
                     identifier: str | None = None, max_rows_per_individual: int | None = None,
                     max_rows: int | None = None, budget_epsilon: float | None = None,
                     budget_delta: float | None = None, protected: bool | None = None,
                     confirm: Sequence[str] | bool = (), new_budget: bool = False) -> PrivacyMetadata:
        """Store the metadata with the dataset version (merged over what is stored or inferred).

        Example::

            ws.privacy.set_metadata("diabetes:1", columns={"Age": {"lower": 0, "upper": 120},
                                    "Diabetic": {"type": "int", "lower": 0, "upper": 1}},
                                    budget_epsilon=3.0, budget_delta=1e-5, confirm=["Diabetic.lower", "Diabetic.upper"])
        """
        from studio_ext.ml.privacy import ColumnMetadata, PrivacyMetadata, observed_extremes

        entity = self._entity(dataset)
        frame = self._frame(entity)
        current = self.describe(entity).to_dict()
        merged_columns = dict(current["columns"])
        for name, spec in (columns or {}).items():
            if name not in frame.columns:
                raise InvalidInput(f"Column {name!r} is not in {entity.name}:{entity.version}. "
                                   f"Columns: {', '.join(map(str, frame.columns))}.")
            unknown = set(spec) - {"type", "lower", "upper", "nullable", "categories"}
            if unknown:
                raise InvalidInput(f"Column {name!r}: unknown metadata {sorted(unknown)}; "
                                   "use type, lower, upper, nullable, categories.")
            merged_columns[name] = {**merged_columns.get(name, {}), **spec, "confirmed": False}
        updates = {"identifier": identifier, "max_rows_per_individual": max_rows_per_individual,
                   "max_rows": max_rows, "budget_epsilon": budget_epsilon, "budget_delta": budget_delta,
                   "protected": protected}
        payload = {**current, **{k: v for k, v in updates.items() if v is not None}, "columns": merged_columns}
        if payload["identifier"] is not None and payload["identifier"] not in frame.columns:
            raise InvalidInput(f"The identifier column {payload['identifier']!r} is not in the dataset.")
        metadata = PrivacyMetadata.from_dict(payload)  # checks bounds (lower <= upper), budget
        extremes = observed_extremes(metadata, frame)
        confirmed = set(extremes) if confirm is True else set(confirm or ())
        missing = [e for e in extremes if e not in confirmed
                   and not (current["columns"].get(e.split(".")[0], {}).get("confirmed")
                            and e.split(".")[0] not in (columns or {}))]
        if missing:
            raise InvalidInput(
                f"These bounds equal the data's observed min or max: {', '.join(missing)}. Bounds taken from the "
                "data leak its extreme values; keep them only if they are public knowledge (a schema, a "
                f"device's range), by confirming them: confirm={missing!r}. Otherwise use wider round numbers.")
        for name in {e.split(".")[0] for e in extremes}:
            col = metadata.columns[name]
            metadata.columns[name] = ColumnMetadata(**{**col.__dict__, "confirmed": True})
        self._save(entity, metadata, new_budget=new_budget)
        return metadata

    def _save(self, entity: Data, metadata: PrivacyMetadata, *, new_budget: bool) -> None:
        version = str(entity.version)
        stored = self._stored(entity)
        if stored is not None and not new_budget:
            budget_version = stored[1]
        elif new_budget:
            budget_version = version
        else:
            budget_version = self._carried_budget(entity.name, version)
        t = now()
        with self._b.store.engine.begin() as conn:
            conn.execute(privacy_metadata.delete().where(privacy_metadata.c.dataset == entity.name,
                                                         privacy_metadata.c.version == version))
            conn.execute(privacy_metadata.insert().values(dataset=entity.name, version=version,
                                                          budget_version=budget_version, updated_at=t,
                                                          payload=json.dumps(metadata.to_dict())))
            exists = conn.execute(sa.select(privacy_ledger.c.queries).where(
                privacy_ledger.c.dataset == entity.name, privacy_ledger.c.budget_version == budget_version)).first()
            if exists is None:
                conn.execute(privacy_ledger.insert().values(dataset=entity.name, budget_version=budget_version,
                                                            epsilon_spent=0.0, delta_spent=0.0, queries=0,
                                                            updated_at=t))

    def _carried_budget(self, name: str, version: str) -> str:
        """The budget of the newest older version with metadata (rows carry over), else this version's own."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(privacy_metadata.c.version, privacy_metadata.c.budget_version).where(
                privacy_metadata.c.dataset == name)).all()
        older = sorted(((int(v), b) for v, b in rows if v.isdigit() and version.isdigit() and int(v) < int(version)),
                       reverse=True)
        return older[0][1] if older else version

    # -- budget and history ------------------------------------------------------------------
    def budget(self, dataset: Any) -> PrivacyBudget:
        from studio_ext.ml.privacy import PrivacyBudget

        entity = self._entity(dataset)
        metadata, budget_version = self._metadata(entity)
        with self._b.store.engine.connect() as conn:
            row = conn.execute(sa.select(privacy_ledger).where(privacy_ledger.c.dataset == entity.name,
                                                               privacy_ledger.c.budget_version == budget_version)).first()
        return PrivacyBudget(dataset=entity.name, version=str(entity.version), budget_version=budget_version,
                             epsilon=metadata.budget_epsilon, delta=metadata.budget_delta,
                             epsilon_spent=row.epsilon_spent if row else 0.0,
                             delta_spent=row.delta_spent if row else 0.0, queries=row.queries if row else 0)

    def history(self, dataset: Any) -> builtins.list[PrivacyQueryRecord]:
        """The queries charged to this version's budget, oldest first."""
        from studio_ext.ml.privacy import PrivacyQueryRecord

        entity = self._entity(dataset)
        _, budget_version = self._metadata(entity)
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(privacy_queries).where(
                privacy_queries.c.dataset == entity.name, privacy_queries.c.budget_version == budget_version,
            ).order_by(privacy_queries.c.created_at)).all()
        return [PrivacyQueryRecord(id=r.id, dataset=r.dataset, version=r.version, statistic=r.statistic,
                                   query=r.query, epsilon=r.epsilon, delta=r.delta, caller=r.caller,
                                   created_at=r.created_at) for r in rows]

    # -- queries -----------------------------------------------------------------------------
    def _table(self, dataset: Any) -> tuple[Data, PrivateTable, str]:
        from studio_ext.ml.privacy import PrivateTable

        entity = self._entity(dataset)
        metadata, budget_version = self._metadata(entity)
        key = (entity.name, str(entity.version))
        with self._lock:
            frame = self._polars.get(key)
        if frame is None:
            import polars as pl

            frame = pl.from_pandas(self._frame(entity))
            with self._lock:
                self._polars[key] = frame
        return entity, PrivateTable(frame, metadata, name=entity.name), budget_version

    def _run(self, entity: Data, table: PrivateTable, budget_version: str, plan: Plan) -> PrivateResult:
        epsilon, delta = plan.loss()
        charge = self._charge(entity, table.metadata, budget_version, plan.statistic, plan.query, epsilon, delta)
        try:
            return plan.release()
        except BaseException:  # an error or an interrupt (Ctrl-C) before the answer reached the caller
            self._refund(entity, budget_version, charge)
            raise

    def _refund(self, entity: Data, budget_version: str, charge: str) -> None:
        """Take back a charge whose release failed before anything reached the caller.

        One transaction deletes the run record and recomposes the ledger from the records
        left, so a refund is whole or not at all, and concurrent charges queue behind it.
        """
        from studio_ext.ml.privacy import compose

        key = (privacy_ledger.c.dataset == entity.name, privacy_ledger.c.budget_version == budget_version)
        with self._b.store.engine.begin() as conn:
            conn.execute(privacy_ledger.update().where(*key).values(updated_at=now()))
            conn.execute(privacy_queries.delete().where(privacy_queries.c.id == charge))
            past = conn.execute(sa.select(privacy_queries.c.epsilon, privacy_queries.c.delta).where(
                privacy_queries.c.dataset == entity.name, privacy_queries.c.budget_version == budget_version)).all()
            total = compose([(e, d) for e, d in past])
            conn.execute(privacy_ledger.update().where(*key).values(
                epsilon_spent=total[0], delta_spent=total[1], queries=len(past)))

    def _charge(self, entity: Data, metadata: PrivacyMetadata, budget_version: str, statistic: str, query: str,
                epsilon: float, delta: float) -> str:
        from studio_ext.ml.privacy import compose

        key = (privacy_ledger.c.dataset == entity.name, privacy_ledger.c.budget_version == budget_version)
        with self._b.store.engine.begin() as conn:
            # The write comes first: it takes the row's lock (SQLite's write lock), so charges queue here.
            conn.execute(privacy_ledger.update().where(*key).values(updated_at=now()))
            past = conn.execute(sa.select(privacy_queries.c.epsilon, privacy_queries.c.delta).where(
                privacy_queries.c.dataset == entity.name, privacy_queries.c.budget_version == budget_version)).all()
            spent = compose([(e, d) for e, d in past])
            total = compose([*((e, d) for e, d in past), (epsilon, delta)])
            if total[0] > metadata.budget_epsilon + _SLACK or total[1] > metadata.budget_delta + _SLACK:
                raise BudgetExceeded(
                    f"This query (epsilon={epsilon:.4g}, delta={delta:.3g}) would pass the privacy budget of "
                    f"{entity.name}:{entity.version} (epsilon={metadata.budget_epsilon:.4g}, "
                    f"delta={metadata.budget_delta:.3g}). Remaining: epsilon="
                    f"{max(metadata.budget_epsilon - spent[0], 0.0):.4g}, "
                    f"delta={max(metadata.budget_delta - spent[1], 0.0):.3g}. Ask for less, or register a new "
                    "version with new rows (new_budget=True).")
            charge = uuid.uuid4().hex
            conn.execute(privacy_queries.insert().values(
                id=charge, dataset=entity.name, version=str(entity.version), budget_version=budget_version,
                statistic=statistic, query=query, epsilon=epsilon, delta=delta, caller=_caller(), created_at=now()))
            conn.execute(privacy_ledger.update().where(*key).values(
                epsilon_spent=total[0], delta_spent=total[1], queries=len(past) + 1))
        return charge

    def query(self, dataset: Any, sql: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult:
        """SQL subset (see ``studio_ext.ml.privacy.SUPPORTED``) over the table named by the dataset.

        Example::

            ws.privacy.query("diabetes:1", "SELECT Diabetic, COUNT(*), AVG(Age) FROM diabetes GROUP BY Diabetic",
                             epsilon=0.5)
        """
        from studio_ext.ml.privacy import plan_sql

        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, plan_sql(table, sql, epsilon=epsilon, delta=delta))

    def count(self, dataset: Any, *, epsilon: float, delta: float = 0.0) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.count(epsilon=epsilon, delta=delta))

    def sum(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.sum(column, epsilon=epsilon, delta=delta))

    def mean(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.mean(column, epsilon=epsilon, delta=delta))

    def variance(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.variance(column, epsilon=epsilon, delta=delta))

    def covariance(self, dataset: Any, columns: Sequence[str], *, epsilon: float,
                   delta: float = 0.0) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.covariance(columns, epsilon=epsilon, delta=delta))

    def quantiles(self, dataset: Any, column: str, quantiles: Sequence[float] = (0.25, 0.5, 0.75), *,
                  epsilon: float, delta: float = 0.0) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.quantiles(column, quantiles, epsilon=epsilon, delta=delta))

    def histogram(self, dataset: Any, column: str, *, epsilon: float, delta: float = 0.0,
                  bins: int | Sequence[float] | None = None) -> PrivateResult:
        entity, table, bv = self._table(dataset)
        return self._run(entity, table, bv, table.histogram(column, epsilon=epsilon, delta=delta, bins=bins))

    # -- synthetic data ---------------------------------------------------------------------------
    def synthesize(self, dataset: Any, *, epsilon: float, method: str = "aim", rows: int | None = None,
                   columns: Sequence[str] | None = None, name: str | None = None) -> Data:
        """Private synthetic rows, registered as a new dataset (see the Protocol).

        Example::

            synthetic = ws.privacy.synthesize("diabetes:1", epsilon=1.0, method="mst", rows=5000)
            ws.data.profile(synthetic.name, synthetic.version)   # compare with the original's
        """
        from studio_ext.ml.privacy import plan_synthesis

        entity, table, bv = self._table(dataset)
        if rows is not None and (not isinstance(rows, int) or rows < 1):
            raise InvalidInput(f"rows must be a positive integer, got {rows!r}.")
        plan = plan_synthesis(table, epsilon=epsilon, method=method, columns=columns)
        eps, delta = plan.loss()
        query = f"synthesize({', '.join(plan.columns)}, method={method!r})"
        charge = self._charge(entity, table.metadata, bv, "synthesize", query, eps, delta)
        target = name or f"{entity.name}-synthetic"
        folder = self._b.path / "privacy" / "synthetic"
        path = folder / f"{target}-{uuid.uuid4().hex[:8]}.parquet"
        tags = {"privacy.source": f"azureml:{entity.name}:{entity.version}", "privacy.method": method,
                "privacy.epsilon": f"{eps:g}", "privacy.delta": f"{delta:g}", "privacy.synthetic": "true"}
        try:
            try:
                frame = plan.release(rows=rows)
            except Exception as exc:  # OpenDP stopped before handing anything back: nothing was released
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                raise InvalidInput(f"OpenDP could not synthesize {entity.name}:{entity.version} ({method}, "
                                   f"epsilon={eps:g}): {reason}. Nothing was released and the budget was not "
                                   "charged; try another epsilon or method.") from exc
            folder.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(path, index=False)
            return self._b.service("data").create_or_update(Data(
                name=target, path=str(path), type=DataType.TABULAR, tags=tags,
                description=f"Differentially private synthetic data from {entity.name}:{entity.version} "
                            f"({method.upper()}, epsilon {eps:g}, OpenDP)"))
        except BaseException:  # an error or an interrupt (Ctrl-C) before the dataset reached the caller
            self._refund(entity, bv, charge)
            with contextlib.suppress(OSError):  # a half-written file, if any
                path.unlink(missing_ok=True)
            raise

    # -- teaching ------------------------------------------------------------------------------
    def compare(self, dataset: Any, query: str, epsilons: Sequence[float] = (0.1, 0.5, 1, 5), repeats: int = 20,
                *, delta: float = 0.0) -> Comparison:
        """Noisy answers of a SQL query over ``repeats`` for each epsilon, beside the exact answer.

        It spends no budget because it reveals exact values: it is for data the user owns, and
        refused on a dataset marked protected (metadata ``protected=True`` or a tag ``protected``).
        """
        import duckdb
        import pandas as pd

        from studio_ext.ml.privacy import Comparison, check_epsilon, plan_sql

        entity, table, _ = self._table(dataset)
        if table.metadata.protected or str(entity.tags.get("protected", "")).lower() in ("1", "true", "yes"):
            raise InvalidInput(f"{entity.name}:{entity.version} is marked protected: comparing noisy answers with "
                               "exact ones would reveal exact values. Use a copy of data you own.")
        if not isinstance(repeats, int) or not 1 <= repeats <= 1000:
            raise InvalidInput(f"repeats must be an integer from 1 to 1000, got {repeats!r}.")
        epsilons = [check_epsilon(e) for e in epsilons]
        plans = [plan_sql(table, query, epsilon=e, delta=delta) for e in epsilons]  # checks the query first
        con = duckdb.connect()
        try:
            con.register(table.name, self._frame(entity))
            exact_frame = con.execute(query).df()
        finally:
            con.close()
        group_by = plans[0].group_by
        names = [a.name for a in plans[0].aggregates]
        exact = _cells(exact_frame, group_by, names)
        rows = []
        for eps, plan in zip(epsilons, plans, strict=True):
            for r in range(repeats):
                for name, value in _cells(plan.release().value, group_by, names).items():
                    rows.append({"epsilon": eps, "repeat": r, "output": name, "noisy": value,
                                 "exact": exact.get(name, float("nan"))})
        return Comparison(dataset=f"{entity.name}:{entity.version}", query=query, exact=exact,
                          samples=pd.DataFrame(rows), epsilons=epsilons)


def _cells(frame: Any, group_by: Sequence[str], names: Sequence[str] | None = None) -> dict[str, float]:
    """Each aggregate cell of a result as 'output' or 'output [group]' -> value.

    ``names`` names the aggregates by position (the exact answer's engine names its columns its own way).
    """
    out: dict[str, float] = {}
    columns = [c for c in frame.columns if c not in group_by]
    labels = list(names) if names is not None else [str(c) for c in columns]
    ordered = frame.sort_values(list(group_by)).reset_index(drop=True) if group_by else frame
    for _, row in ordered.iterrows():
        group = ", ".join(f"{g}={row[g]}" for g in group_by)
        for label, column in zip(labels, columns, strict=False):
            out[f"{label} [{group}]" if group_by else label] = float(row[column])
    return out


def _caller() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment
        user = "unknown"
    return f"{user} (pid {os.getpid()})"
