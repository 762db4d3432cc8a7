"""``ws.data_drift`` on the local backend: dataset monitors, monitor runs as jobs, results and alerts.

A monitor is a row of ``monitors`` (kind ``data_drift``: a v1 dataset monitor; ``model``: a v2
``MonitorSchedule``'s definition, made through ``ws.schedules``). Every computation is a job
(``python -m studio_ext.backends.local.monitors.run``, :mod:`.run`) in the run explorer: a
backfill over past windows, or a schedule's slot (the schedules duty fires the action
``{"kind": "monitor", "monitor": NAME}`` through :func:`submit_run`). The job writes one
``monitor_results`` row per window and signal, MLflow metrics per feature, a result table, and
a ``monitor_alerts`` row per signal over its threshold (:mod:`.alerts`).
"""

from __future__ import annotations

import builtins
import json
import shlex
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext._validation import check_name
from studio_ext.backends.local.core.schema import monitor_alerts, monitor_results, monitors, schedules
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.entities import CommandJob, DataType, Job
from studio_ext.entities._monitor import DataDriftMonitor, DriftWindowResult, MonitorAlert, MonitorDefinition
from studio_ext.entities._schedule import CronTrigger, RecurrenceTrigger
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.services._monitors import DataDriftOperations

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from studio_ext.backends.local import LocalBackend

MONITOR_TAG = "monitor_name"
MODE_TAG = "monitor_run"
SPEC_FILE = "monitor_run.json"
FREQUENCIES = ("Day", "Week", "Month")
KINDS = ("data_drift", "model")


def parse_time(value: datetime | str, what: str) -> datetime:
    """A UTC datetime from a datetime or ISO text (a naive one is UTC)."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"The {what} {value!r} is not a date or time: give ISO text such as '2026-01-31' "
                           "or a datetime.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def dataset_reference(ref: str) -> tuple[str, str | None]:
    """(name, version or None for the latest) from ``NAME``, ``NAME:VERSION``, ``azureml:NAME@latest``."""
    text = str(ref or "").strip().removeprefix("azureml:")
    if text.endswith("@latest"):
        return text[: -len("@latest")], None
    name, _, version = text.partition(":")
    if not name:
        raise InvalidInput(f"A dataset reference is NAME, NAME:VERSION or azureml:NAME@latest. Got {ref!r}.")
    return name, version or None


def load_dataset(
    backend: LocalBackend, ref: str, what: str, columns: builtins.list[str] | None = None
) -> pd.DataFrame:
    """A registered tabular dataset as a DataFrame, or an error naming ``what`` and the datasets there are.

    With ``columns``, only those are read (see ``LocalData.load``); one the dataset lacks is
    named with the columns it has.
    """
    name, version = dataset_reference(ref)
    data = backend.service("data")
    try:
        asset = data.get(name, version)
    except NotFound:
        known = sorted({d.name for d in data.list()})
        raise NotFound(f"The {what} dataset {ref!r} does not exist. Datasets here: {', '.join(known) or 'none'}.") \
            from None
    if asset.type != DataType.TABULAR:
        raise InvalidInput(f"The {what} dataset {ref!r} is a {DataType(asset.type).azure_type} asset; a drift monitor "
                           "compares tabular datasets (mltable). Register the file as Data(type='mltable').")
    return data.load(name, asset.version, columns=columns)


class LocalDataDrift(DataDriftOperations):
    """Dataset drift monitors, monitor runs, results and alerts on the local backend (``ws.data_drift``)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- v1 dataset monitors ----------------------------------------------------------------------
    def create(self, name: str, *, baseline: str, target: str, timestamp_column: str, frequency: str = "Week",
               features: builtins.list[str] | None = None, drift_threshold: float = 20.0, latency: int = 0,
               alert_emails: builtins.list[str] | None = None, alert_webhook: str | None = None,
               description: str | None = None) -> DataDriftMonitor:
        """Check the datasets, timestamp column, features and threshold, and record the monitor (schedule off)."""
        from studio_ext.ml import drift

        name = check_name(name, "monitor name")
        if frequency not in FREQUENCIES:
            raise InvalidInput(f"The 'frequency' parameter of ws.data_drift.create must be one of "
                               f"{', '.join(map(repr, FREQUENCIES))}. Got {frequency!r} instead.")
        if not isinstance(drift_threshold, int | float) or not 0 <= drift_threshold <= 100:
            raise InvalidInput(f"drift_threshold is a drift magnitude from 0 to 100 (a fraction 0-1 is read as a "
                               f"share: 0.3 is 30). Got {drift_threshold!r}.")
        threshold = float(drift_threshold) * 100 if 0 < drift_threshold <= 1 else float(drift_threshold)
        if not isinstance(latency, int) or latency < 0:
            raise InvalidInput(f"latency is a whole number of hours >= 0. Got {latency!r}.")
        base = load_dataset(self._b, baseline, "baseline")
        tgt = load_dataset(self._b, target, "target")
        if timestamp_column not in tgt.columns:
            raise InvalidInput(f"The target dataset {target!r} has no column {timestamp_column!r} (the "
                               f"timestamp_column). Its columns: {', '.join(map(str, tgt.columns))}.")
        drift.windows(tgt.head(1000), timestamp_column, frequency)  # refuses values that are not times
        chosen = list(features) if features else [
            c for c in base.columns if c in tgt.columns and c != timestamp_column]
        missing = [f"{f!r} (missing from the {side} {ref!r})" for f in chosen
                   for side, frame, ref in (("baseline", base, baseline), ("target", tgt, target))
                   if f not in frame.columns]
        if missing:
            raise InvalidInput(f"Feature {', '.join(missing)}: a monitored feature must be a column of both datasets.")
        if not chosen:
            raise InvalidInput(f"The baseline {baseline!r} and target {target!r} share no column besides the "
                               "timestamp: there is nothing to compare.")
        if alert_webhook:
            from studio_ext.backends.local.data.fetch import check_url

            check_url(alert_webhook)
        spec = {"baseline": baseline, "target": target, "timestamp_column": timestamp_column, "frequency": frequency,
                "features": chosen, "drift_threshold": threshold, "latency": latency,
                "alert_emails": list(alert_emails or []), "alert_webhook": alert_webhook, "description": description}
        stamp = now()
        with self._b.store.engine.begin() as conn:
            if conn.execute(sa.select(monitors.c.name).where(monitors.c.name == name)).first() is not None:
                raise Conflict(f"A monitor named {name!r} already exists. Delete it first "
                               f"(ws.data_drift.delete({name!r})) or choose another name.")
            conn.execute(monitors.insert().values(name=name, kind="data_drift", schedule_name=None,
                                                  spec=json.dumps(spec), created_at=stamp, updated_at=stamp))
        return self.get(name)

    def get(self, name: str) -> DataDriftMonitor:
        """The dataset monitor with its schedule state, last run and unacknowledged alerts."""
        row = self._row(name)
        if row.kind != "data_drift":
            raise NotFound(f"{name!r} is a model monitor (a MonitorSchedule): read it with ws.schedules.get({name!r}); "
                           f"its results with ws.data_drift.get_results({name!r}).")
        return self._monitor(row)

    def list(self) -> builtins.list[DataDriftMonitor]:
        """Every dataset monitor, by name."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(monitors.select().where(monitors.c.kind == "data_drift")
                                .order_by(monitors.c.name)).all()
        return [self._monitor(r) for r in rows]

    def delete(self, name: str) -> None:
        """Delete the monitor, its schedule, results and alerts (its jobs stay)."""
        row = self._row(name)
        if row.kind != "data_drift":
            raise InvalidInput(f"{name!r} is a model monitor: delete it with ws.schedules.begin_delete({name!r}).")
        if row.schedule_name:
            try:
                self._b.service("schedules").begin_delete(row.schedule_name).result()
            except NotFound:
                pass
        with self._b.store.engine.begin() as conn:
            forget(conn, name)

    def backfill(self, name: str, start: datetime | str, end: datetime | str) -> Job:
        """Compute the windows from ``start`` to ``end`` as a job in the run explorer (returned at once)."""
        row = self._row(name)
        begin, finish = parse_time(start, "backfill start"), parse_time(end, "backfill end")
        if finish <= begin:
            raise InvalidInput(f"The backfill end {finish.isoformat()} is not after its start {begin.isoformat()}.")
        return submit_run(self._b, row.name, mode="backfill", start=begin, end=finish)

    def run(self, name: str, target_date: datetime | str | None = None) -> Job:
        """Run the monitor once, as a job, as its schedule's fire at ``target_date`` (default now) would.

        A dataset monitor computes its latest whole window ending by then (less ``latency``); a
        model monitor each signal's look-back window up to then. The result is a scheduled
        run's (not marked backfilled); the job is in the run explorer, tagged ``monitor_run=run``.
        """
        row = self._row(name)
        slot = parse_time(target_date, "target_date") if target_date is not None else datetime.now(UTC)
        return submit_run(self._b, row.name, mode="run", slot=slot)

    def window_values(self, name: str, window_start: datetime | str, feature: str, *, signal: str | None = None,
                      rows: int = 5000) -> tuple[pd.Series, pd.Series]:
        """The reference's values of ``feature`` and the target's in the window starting at ``window_start``.

        A dataset monitor: the baseline's column, and the target's rows in the window by its
        timestamp column. A model monitor: the reference the run compared with (the signal's
        ``reference_data``, or the model's training data found through its lineage, as the run
        recorded it), and the deployment's collected rows in the window. Only the feature's
        column (and the clock) is read; each side is sampled to ``rows``.
        """
        import pandas as pd

        row = self._row(name)
        start = parse_time(window_start, "window_start")
        results = [r for r in self.get_results(name, signal=signal) if abs(r.start.timestamp() - start.timestamp()) < 1]
        if not results:
            raise NotFound(f"The monitor {name!r} has no result for a window starting {start.isoformat()}"
                           + (f" of the signal {signal!r}" if signal else "") + ": see ws.data_drift.get_results.")
        result = results[0]
        spec = json.loads(row.spec)
        if row.kind == "data_drift":
            ts = spec["timestamp_column"]
            reference = load_dataset(self._b, spec["baseline"], "baseline", columns=[feature])[feature]
            target = load_dataset(self._b, spec["target"], "target", columns=list(dict.fromkeys([ts, feature])))
            stamps = pd.to_datetime(target[ts], errors="coerce", utc=True)
            values = target.loc[(stamps >= pd.Timestamp(result.start)) & (stamps < pd.Timestamp(result.end)), feature]
        else:
            definition = spec["create_monitor"]
            signal_spec = (definition.get("monitoring_signals") or {}).get(result.signal) or {}
            from studio_ext.backends.local.monitors import windows
            from studio_ext.backends.local.monitors.run import References, collected, read_data

            ref = result.extra.get("reference") or reference_of(self._b, signal_spec, definition["monitoring_target"])
            production = signal_spec.get("production_data") or {}
            production = (production[0] if production else {}) if isinstance(production, list) else production
            ref_spec = signal_spec.get("reference_data") or {}
            refs = References(self._b)
            if ref_spec.get("data_window") or not refs.is_table(ref):  # the window the run read
                offset = (production.get("data_window") or {}).get("lookback_window_offset")
                slot = result.end + windows.duration(offset if offset not in (None, "", "default") else "P0D", "offset")
                ref_window = windows.reference_window(ref_spec.get("data_window"), slot, result.end - result.start,
                                                      "reference_data")
                whole = refs.windowed(ref, ref_spec, ref_window, "reference_data")
                reference = whole[feature] if feature in whole.columns else pd.Series([], dtype=float, name=feature)
            else:
                reference = load_dataset(self._b, ref, "reference", columns=[feature])[feature]
            endpoint, deployment = deployment_of(definition["monitoring_target"]["endpoint_deployment_id"])
            kind = "model_outputs" if signal_spec.get("type") == "prediction_drift" else "model_inputs"
            if (production.get("input_data") or {}).get("path"):
                frame = read_data(self._b, production, (result.start, result.end), "production_data")
            else:
                frame, _ = collected(self._b, endpoint, deployment, kind, result.start, result.end)
            outputs = [c for c in frame.columns if c not in ("correlationid", "time")]
            if feature not in frame.columns and kind == "model_outputs" and outputs:  # as the run compared them
                feature_column = outputs[0]
            else:
                feature_column = feature
            values = (frame[feature_column] if feature_column in frame.columns
                      else pd.Series([], dtype=float, name=feature))
        return _sample(reference, rows), _sample(values, rows)

    def enable_schedule(self, name: str, *, trigger: CronTrigger | RecurrenceTrigger | None = None) -> DataDriftMonitor:
        """Run the monitor on a schedule: every ``frequency`` (``trigger`` to choose the times)."""
        from studio_ext.entities._monitor import MonitorSchedule

        monitor = self.get(name)
        if trigger is None:
            trigger = RecurrenceTrigger(frequency=monitor.frequency.lower(), interval=1)
        schedule_name = monitor.schedule_name or f"{name}-schedule"
        self._b.service("schedules").begin_create_or_update(MonitorSchedule(
            name=schedule_name, trigger=trigger, data_drift_monitor=name,
            description=f"Runs the data drift monitor {name!r}")).result()
        with self._b.store.engine.begin() as conn:
            conn.execute(monitors.update().where(monitors.c.name == name).values(schedule_name=schedule_name,
                                                                                  updated_at=now()))
        return self.get(name)

    def disable_schedule(self, name: str) -> DataDriftMonitor:
        """Stop the monitor's schedule (it stays, disabled)."""
        monitor = self.get(name)
        if monitor.schedule_name:
            self._b.service("schedules").begin_disable(monitor.schedule_name).result()
        return self.get(name)

    # -- results and alerts -----------------------------------------------------------------------
    def get_results(self, name: str, start: datetime | str | None = None, end: datetime | str | None = None, *,
                    signal: str | None = None) -> builtins.list[DriftWindowResult]:
        """One record per window (and signal) whose start is in [start, end), oldest first."""
        self._row(name)
        query = monitor_results.select().where(monitor_results.c.monitor == name)
        if start is not None:
            query = query.where(monitor_results.c.window_start >= parse_time(start, "start").timestamp())
        if end is not None:
            query = query.where(monitor_results.c.window_start < parse_time(end, "end").timestamp())
        if signal is not None:
            query = query.where(monitor_results.c.signal == signal)
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(monitor_results.c.window_start, monitor_results.c.signal)).all()
        return [result_of(r) for r in rows]

    def list_alerts(self, monitor: str | None = None, *, include_acknowledged: bool = True,
                    limit: int = 100) -> builtins.list[MonitorAlert]:
        """Alerts raised, newest first."""
        query = monitor_alerts.select()
        if monitor is not None:
            query = query.where(monitor_alerts.c.monitor == monitor)
        if not include_acknowledged:
            query = query.where(monitor_alerts.c.acknowledged.is_(False))
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(monitor_alerts.c.id.desc()).limit(limit)).all()
        return [alert_of(r) for r in rows]

    def alert_count(self, monitor: str | None = None, *, unacknowledged_only: bool = True) -> int:
        """How many alerts (not yet acknowledged, by default)."""
        query = sa.select(sa.func.count()).select_from(monitor_alerts)
        if monitor is not None:
            query = query.where(monitor_alerts.c.monitor == monitor)
        if unacknowledged_only:
            query = query.where(monitor_alerts.c.acknowledged.is_(False))
        with self._b.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def acknowledge_alerts(self, monitor: str | None = None) -> int:
        """Mark alerts seen; returns how many changed."""
        query = monitor_alerts.update().where(monitor_alerts.c.acknowledged.is_(False))
        if monitor is not None:
            query = query.where(monitor_alerts.c.monitor == monitor)
        with self._b.store.engine.begin() as conn:
            return int(conn.execute(query.values(acknowledged=True)).rowcount)

    # -- rows -------------------------------------------------------------------------------------
    def _row(self, name: str) -> Any:
        with self._b.store.engine.connect() as conn:
            row = conn.execute(monitors.select().where(monitors.c.name == name)).first()
            if row is None:
                known = [r.name for r in conn.execute(sa.select(monitors.c.name).order_by(monitors.c.name))]
                raise NotFound(f"There is no monitor named {name!r}. Monitors here: {', '.join(known) or 'none'}.")
        return row

    def _monitor(self, row: Any) -> DataDriftMonitor:
        spec = json.loads(row.spec)
        with self._b.store.engine.connect() as conn:
            enabled = conn.execute(sa.select(schedules.c.is_enabled).where(
                schedules.c.name == row.schedule_name)).scalar() if row.schedule_name else None
            last = conn.execute(sa.select(monitor_results.c.job_name).where(monitor_results.c.monitor == row.name)
                                .order_by(monitor_results.c.recorded_at.desc()).limit(1)).scalar()
        return DataDriftMonitor(
            name=row.name, baseline=spec["baseline"], target=spec["target"], timestamp_column=spec["timestamp_column"],
            frequency=spec["frequency"], features=list(spec["features"]), drift_threshold=spec["drift_threshold"],
            latency=spec["latency"], alert_emails=list(spec.get("alert_emails") or []),
            alert_webhook=spec.get("alert_webhook"), description=spec.get("description"),
            schedule_name=row.schedule_name, state="Enabled" if enabled else "Disabled",
            creation_time=to_datetime(row.created_at), last_run_job=last, alert_count=self.alert_count(row.name))


# -- shared with the schedules service and duty ---------------------------------------------------
def _sample(values: pd.Series, rows: int) -> pd.Series:
    values = values.dropna().reset_index(drop=True)
    return values.sample(rows, random_state=0) if len(values) > rows else values


def model_of(backend: LocalBackend, target: dict[str, Any]) -> tuple[str, str | None]:
    """(model name, version or None) a monitoring target watches: its ``model_id``, else the deployment's model."""
    ref = target.get("model_id")
    if not ref:
        endpoint, name = deployment_of(target["endpoint_deployment_id"])
        ref = backend.service("online_deployments").get(name, endpoint_name=endpoint).model
        ref = ref if isinstance(ref, str) else getattr(ref, "id", None) or getattr(ref, "name", None)
    if not ref:
        raise InvalidInput(f"The deployment {target['endpoint_deployment_id']!r} serves no registered model, so the "
                           "model's training data cannot be found: give reference_data=ReferenceData(input_data=...).")
    text = str(ref).removeprefix("azureml:")
    if "/models/" in text:  # azureml://.../models/NAME/versions/V
        parts = text.split("/")
        i = parts.index("models")
        return parts[i + 1], (parts[i + 3] if len(parts) > i + 3 else None)
    name, _, version = text.partition(":")
    return name, version or None


def training_data(backend: LocalBackend, name: str, version: str | None) -> str:
    """The model's training data through its lineage: the tabular data asset version the job that made the
    model read (``azureml:NAME:VERSION``), or an error that says what the lineage holds."""
    model = backend.service("models").get(name, version)
    data = backend.service("data")
    passed: list[str] = []
    for ref in model.datasets:
        if not ref.startswith("azureml:"):  # an MLflow dataset input (NAME@DIGEST), not a registered asset
            passed.append(f"{ref} (an MLflow dataset, not a data asset)")
            continue
        asset_name, asset_version = dataset_reference(ref)
        if asset_version is None and model.job_name:  # azureml:NAME@latest: the version the job read
            used = [c.data_version for c in data.list_consumers(asset_name) if c.job_name == model.job_name]
            asset_version = used[0] if used else None
        try:
            asset = data.get(asset_name, asset_version)
        except NotFound:
            passed.append(f"{ref} (no longer registered)")
            continue
        if asset.type != DataType.TABULAR:
            passed.append(f"{ref} (a {DataType(asset.type).azure_type} asset, not tabular)")
            continue
        return f"azureml:{asset.name}:{asset.version}"
    where = f"the job {model.job_name!r}" if model.job_name else "no job (it was not registered from a job's output)"
    found = f"; its lineage has {', '.join(passed)}" if passed else ""
    raise InvalidInput(f"no reference_data, and the model {name}:{model.version} has no training dataset in its "
                       f"lineage (it comes from {where}{found}): give reference_data=ReferenceData("
                       "input_data=Input(type='mltable', path='azureml:NAME:VERSION')).")


def reference_of(backend: LocalBackend, signal: dict[str, Any], target: dict[str, Any]) -> str:
    """The dataset a model monitor's signal compares with: its ``reference_data``, else the model's training
    data found through the model's lineage (the data asset its job read)."""
    ref = ((signal.get("reference_data") or {}).get("input_data") or {}).get("path")
    if ref:
        return str(ref)
    return training_data(backend, *model_of(backend, target))


def forget(conn: Any, name: str) -> None:
    """Delete a monitor's row, results and alerts (inside the caller's transaction)."""
    conn.execute(monitors.delete().where(monitors.c.name == name))
    conn.execute(monitor_results.delete().where(monitor_results.c.monitor == name))
    conn.execute(monitor_alerts.delete().where(monitor_alerts.c.monitor == name))


def result_of(row: Any) -> DriftWindowResult:
    payload = json.loads(row.payload)
    return DriftWindowResult(
        monitor=row.monitor, signal=row.signal, start=datetime.fromtimestamp(row.window_start, UTC),
        end=datetime.fromtimestamp(row.window_end, UTC), drift_magnitude=row.drift_magnitude,
        features=payload.get("features", {}), feature_kinds=payload.get("feature_kinds", {}),
        rows_reference=payload.get("rows_reference", 0), rows_target=payload.get("rows_target", 0),
        no_data=bool(payload.get("no_data")), skipped=payload.get("skipped", {}),
        warnings=payload.get("warnings", []), alerts=payload.get("alerts", []), job_name=row.job_name,
        backfill=bool(row.backfill), extra=payload.get("extra", {}))


def alert_of(row: Any) -> MonitorAlert:
    payload = json.loads(row.payload)
    return MonitorAlert(
        id=row.id, monitor=row.monitor, signal=row.signal, feature=row.feature, metric=row.metric, value=row.value,
        threshold=row.threshold,
        window_start=datetime.fromtimestamp(row.window_start, UTC) if row.window_start is not None else None,
        window_end=datetime.fromtimestamp(row.window_end, UTC) if row.window_end is not None else None,
        job_name=row.job_name, created_at=to_datetime(row.created_at), message=payload.get("message", ""),
        emails=payload.get("emails", []), email_status=payload.get("email_status", ""),
        webhook_url=payload.get("webhook_url"), webhook_status=payload.get("webhook_status", ""),
        acknowledged=bool(row.acknowledged))


def submit_run(backend: LocalBackend, monitor: str, *, mode: str, start: datetime | None = None,
               end: datetime | None = None, slot: datetime | None = None, job_name: str | None = None,
               tags: dict[str, str] | None = None) -> Job:
    """Submit one run of ``monitor`` as a command job (``mode``: ``backfill`` from start to end, or ``scheduled``
    for the slot's latest window); the job reads the monitor's definition as it is now."""
    with backend.store.engine.connect() as conn:
        row = conn.execute(monitors.select().where(monitors.c.name == monitor)).first()
    if row is None:
        raise NotFound(f"There is no monitor named {monitor!r}.")
    spec = {"monitor": monitor, "kind": row.kind, "mode": mode, "definition": json.loads(row.spec),
            "start": start.isoformat() if start else None, "end": end.isoformat() if end else None,
            "slot": slot.astimezone(UTC).isoformat() if slot else None}
    when = (f"{start:%Y-%m-%d} to {end:%Y-%m-%d}" if start and end else
            f"at {slot.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if slot else "")
    command = (f"python -m studio_ext.backends.local.monitors.run --workspace {shlex.quote(str(backend.path))} "
               f"--spec {SPEC_FILE}")
    with tempfile.TemporaryDirectory(prefix="studio-monitor-") as code:
        Path(code, SPEC_FILE).write_text(json.dumps(spec, indent=2), encoding="utf-8")
        job = CommandJob(command=command, code=code, compute="local", experiment_name=f"monitor-{monitor}"[:200],
                         display_name=f"{monitor} {mode} {when}".strip(), name=job_name,
                         description=f"Monitor run of {monitor!r} ({mode})",
                         tags={**(tags or {}), MONITOR_TAG: monitor, MODE_TAG: mode})
        return backend.service("jobs").create_or_update(job)


def check_model_monitor(backend: LocalBackend, name: str, definition: MonitorDefinition,
                        trigger: Any = None) -> dict[str, Any]:
    """Check a v2 monitor definition (its deployment exists, its signals and their data windows can run here);
    its stored spec. With no ``monitoring_signals`` (Azure's out-of-box monitor) the default signals are added
    (:func:`default_signals`), as azure-ai-ml's schedule operations add them."""
    from studio_ext.backends.local.monitors import windows
    from studio_ext.translation import monitor_schedule

    target = definition.monitoring_target
    if target is None or not target.endpoint_deployment_id:
        raise InvalidInput(f"The monitor {name!r} has no monitoring_target.endpoint_deployment_id: give "
                           "MonitoringTarget(ml_task=..., endpoint_deployment_id='azureml:ENDPOINT:DEPLOYMENT').")
    endpoint, deployment = deployment_of(target.endpoint_deployment_id)
    try:
        found = backend.service("online_deployments").get(deployment, endpoint_name=endpoint)
    except NotFound:
        raise NotFound(f"The monitor {name!r} watches {target.endpoint_deployment_id!r}, but there is no deployment "
                       f"{deployment!r} on an online endpoint {endpoint!r}. Deploy it first, or give an existing "
                       "'azureml:ENDPOINT:DEPLOYMENT'.") from None
    alert = definition.alert_notification
    if alert is not None and alert.webhook_url:
        from studio_ext.backends.local.data.fetch import check_url

        check_url(alert.webhook_url)
    mapping = monitor_schedule.definition_to_v2(definition)
    size = window_size(trigger)
    if not definition.monitoring_signals:
        mapping["monitoring_signals"] = default_signals(backend, name, mapping["monitoring_target"], found, size)
    for signal_name, signal in mapping["monitoring_signals"].items():
        windows.check_signal(signal_name, signal, size)
    # window_size: a signal's production look-back when its data_window gives none (Azure's default_data_window_size)
    return {"create_monitor": mapping, "webhook_url": alert.webhook_url if alert else None, "window_size": size}


DEFAULT_SIGNAL_NAMES = {"data_drift": "data-drift-signal", "prediction_drift": "prediction-drift-signal",
                        "data_quality": "data-quality-signal"}  # azure.ai.ml.constants._monitoring's names


def window_size(trigger: Any) -> str:
    """Azure's default production look-back for a schedule (``MonitorSchedule._to_rest_object``): the recurrence's
    period in days (a day for minute and hour recurrences), ``P7D`` for a cron trigger."""
    if isinstance(trigger, RecurrenceTrigger):
        frequency, interval = str(trigger.frequency).lower(), int(trigger.interval or 1)
        days = {"minute": 1, "hour": 1, "day": interval, "week": 7 * interval, "month": 30 * interval}.get(frequency)
        if days:
            return f"P{days}D"
    return "P7D"


def default_signals(backend: LocalBackend, name: str, target: dict[str, Any], deployment: Any,
                    size: str) -> dict[str, Any]:
    """An out-of-box monitor's signals (v2 mappings): data drift, prediction drift and data quality, with Azure's
    default thresholds, on the deployment's collected ``model_inputs`` / ``model_outputs`` over the schedule's
    period, against recent past production data: the same collection over the two periods before it.

    This is what Azure documents for out-of-box monitoring (the CLI v2 monitor schedule YAML reference,
    reference-yaml-monitor: ``monitoring_signals`` is optional "for basic model monitoring that uses recent past
    production data as comparison baseline and has 3 monitoring signals") and what azure-ai-ml 1.35's
    ``ScheduleOperations._resolve_monitor_schedule_arm_id`` writes: a ``ReferenceData`` on the same collected asset
    with ``lookback_window_size="default"`` (twice the period, ``MonitorSchedule._to_rest_object``'s
    ``ref_data_window_size``) and ``lookback_window_offset="default"`` (the period). The model's training data
    (its lineage) is the reference only of user-written signals that name no ``reference_data``."""
    collections = (deployment.data_collector.collections if deployment.data_collector else {}) or {}
    assets: dict[str, str] = {}
    for collection in ("model_inputs", "model_outputs"):
        item = collections.get(collection)
        if item is None or str(item.enabled).lower() != "true" or not item.data:
            raise InvalidInput(
                f"The monitor {name!r} has no monitoring_signals, so it would watch the data "
                f"{target['endpoint_deployment_id']!r} collects, but that deployment does not collect "
                f"{collection}: deploy it with data_collector=DataCollector(collections={{'model_inputs': "
                "DeploymentCollection(enabled='true'), 'model_outputs': DeploymentCollection(enabled='true')}), "
                "or give monitoring_signals with their production_data.")
        assets[collection] = str(item.data)
    days = int(size[1:-1])

    def data(collection: str) -> tuple[dict[str, Any], dict[str, Any]]:
        production = {"input_data": {"type": "uri_folder", "path": assets[collection]}, "data_context": collection,
                      "data_window": {"lookback_window_size": size, "lookback_window_offset": "P0D"}}
        reference = {"input_data": {"type": "uri_folder", "path": assets[collection]}, "data_context": collection,
                     "data_window": {"lookback_window_size": f"P{2 * days}D", "lookback_window_offset": size}}
        return production, reference

    drift_limits = {"numerical": {"normalized_wasserstein_distance": 0.1},
                    "categorical": {"jensen_shannon_distance": 0.1}}
    quality_limits = {kind: {"null_value_rate": 0.0, "data_type_error_rate": 0.0, "out_of_bounds_rate": 0.0}
                      for kind in ("numerical", "categorical")}
    inputs, outputs = data("model_inputs"), data("model_outputs")
    return {
        DEFAULT_SIGNAL_NAMES["data_drift"]: {
            "type": "data_drift", "production_data": inputs[0], "reference_data": inputs[1],
            "features": "all_features", "metric_thresholds": drift_limits, "alert_enabled": True},
        DEFAULT_SIGNAL_NAMES["prediction_drift"]: {
            "type": "prediction_drift", "production_data": outputs[0], "reference_data": outputs[1],
            "metric_thresholds": drift_limits, "alert_enabled": True},
        DEFAULT_SIGNAL_NAMES["data_quality"]: {
            "type": "data_quality", "production_data": inputs[0], "reference_data": inputs[1],
            "features": "all_features", "metric_thresholds": quality_limits, "alert_enabled": True},
    }


def deployment_of(endpoint_deployment_id: str) -> tuple[str, str]:
    """(endpoint, deployment) from ``azureml:ENDPOINT:DEPLOYMENT`` (or Azure's long ARM id form)."""
    text = str(endpoint_deployment_id).strip()
    if "/onlineEndpoints/" in text:
        parts = text.split("/")
        try:
            return parts[parts.index("onlineEndpoints") + 1], parts[parts.index("deployments") + 1]
        except (ValueError, IndexError):
            pass
    pieces = text.removeprefix("azureml:").split(":")
    if len(pieces) != 2 or not all(pieces):
        raise InvalidInput(f"endpoint_deployment_id is 'azureml:ENDPOINT:DEPLOYMENT'. Got {endpoint_deployment_id!r}.")
    return pieces[0], pieces[1]


def record_monitor(conn: Any, name: str, kind: str, spec: dict[str, Any], schedule_name: str | None) -> None:
    """Write (or replace) a monitor's row inside the caller's transaction."""
    stamp = now()
    row = conn.execute(monitors.select().where(monitors.c.name == name)).first()
    if row is not None and row.kind != kind:
        raise Conflict(f"A {row.kind.replace('_', ' ')} monitor named {name!r} exists already; choose another name.")
    if row is None:
        conn.execute(monitors.insert().values(name=name, kind=kind, schedule_name=schedule_name,
                                              spec=json.dumps(spec), created_at=stamp, updated_at=stamp))
    else:
        conn.execute(monitors.update().where(monitors.c.name == name).values(
            spec=json.dumps(spec), schedule_name=schedule_name, updated_at=stamp))


def model_spec(backend: LocalBackend, name: str) -> dict[str, Any] | None:
    with backend.store.engine.connect() as conn:
        row = conn.execute(monitors.select().where(monitors.c.name == name)).first()
    return json.loads(row.spec) if row is not None else None
