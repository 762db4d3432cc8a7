"""The process of a monitor run: ``python -m studio_ext.backends.local.monitors.run --workspace W --spec FILE``.

Started by the jobs service like any job (so it is in the run explorer and outlives the kernel),
with MLflow pointed at the job's run. It reads the monitor's definition from the spec the
service wrote, computes its windows with :mod:`studio_ext.ml.drift`, and records:

- one ``monitor_results`` row per window and signal (a later run of the same window replaces it and its alerts);
- MLflow metrics per feature and metric (``FEATURE.METRIC``; a model monitor's ``SIGNAL.FEATURE.METRIC``),
  one step per window, stamped with the window's start, and ``drift_magnitude``;
- a result table (``monitor_results.json``, MLflow's table artifact: one row per window, signal,
  feature and metric);
- an alert per signal over its threshold (:mod:`.alerts`).

A v1 dataset monitor compares each target window with the whole baseline; a scheduled run computes
the latest window that ended ``latency`` hours before its slot. A model monitor reads each signal's
``production_data.input_data`` (else the deployment's collected ``model_inputs`` /
``model_outputs``) over its look-back window (:mod:`.windows`: the schedule's period, as Azure's
default, unless its ``data_window`` says otherwise; windows end at the run's time rounded up to the
whole minute, so runs within a minute share and replace one window) against the reference (given, or
the deployed model's training data through its lineage: the tabular data asset version the job that
made the model read; the whole of it, or its ``data_window``), reading only the reference's columns
the signal compares. With ``ml_task: classification`` the outputs prediction drift compares are
class labels (categorical: 0/1 are classes, not numbers); each result records which reference it
compared with (``extra["reference"]``). Feature attribution drift explains the deployed model
(``ml/explain``, SHAP) on both sides and compares the importance rankings by normalized discounted
cumulative gain.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXPLAIN_ROWS = 500  # rows a side the attribution signal explains (SHAP's cost grows with them)
_KEY = re.compile(r"[^0-9A-Za-z_\-. /]")


def say(text: str) -> None:
    print(text, flush=True)


def metric_key(*parts: str) -> str:
    return ".".join(_KEY.sub("_", str(p)) for p in parts)[:250]


class Recorder:
    """Collects what a run found; writes results, metrics, the table and alerts."""

    def __init__(self, backend: Any, monitor: str, job_name: str, backfill: bool, emails: list[str],
                 webhook: str | None) -> None:
        self.b, self.monitor, self.job_name, self.backfill = backend, monitor, job_name, backfill
        self.emails, self.webhook = emails, webhook
        self.metrics: list[Any] = []
        self.table: list[dict[str, Any]] = []
        self.step = 0
        self.alerts = 0
        self.reference: str | None = None  # the dataset the window's signal compared with (a model monitor's)

    def window(self, signal: str, start: datetime, end: datetime, *, magnitude: float | None,
               features: dict[str, dict[str, float]], kinds: dict[str, str], rows: tuple[int, int], no_data: bool,
               skipped: dict[str, str], warnings: list[str], alerts: list[dict[str, Any]], prefix: str = "",
               extra: dict[str, Any] | None = None, overall: dict[str, float] | None = None) -> None:
        import sqlalchemy as sa
        from mlflow.entities import Metric

        from studio_ext.backends.local.core.schema import monitor_alerts, monitor_results
        from studio_ext.backends.local.core.store import now
        from studio_ext.backends.local.monitors.alerts import raise_alert

        stamp = int(start.timestamp() * 1000)
        if magnitude is not None:
            self.metrics.append(Metric(metric_key(*(p for p in (prefix, "drift_magnitude") if p)), magnitude,
                                       stamp, self.step))
        for metric, value in (overall or {}).items():  # a signal's own metric, over all features
            self.metrics.append(Metric(metric_key(*(p for p in (prefix, metric) if p)), float(value), stamp, self.step))
            self.table.append({"window_start": start.isoformat(), "window_end": end.isoformat(), "signal": signal,
                               "feature": "", "metric": metric, "value": float(value)})
        for feature, values in features.items():
            for metric, value in values.items():
                if value is None or not math.isfinite(float(value)):
                    continue
                self.metrics.append(Metric(metric_key(*(p for p in (prefix, feature, metric) if p)), float(value),
                                           stamp, self.step))
                self.table.append({"window_start": start.isoformat(), "window_end": end.isoformat(),
                                   "signal": signal, "feature": feature, "metric": metric, "value": float(value)})
        if magnitude is not None:
            self.table.append({"window_start": start.isoformat(), "window_end": end.isoformat(), "signal": signal,
                               "feature": "", "metric": "drift_magnitude", "value": magnitude})
        payload = {"features": features, "feature_kinds": kinds, "rows_reference": rows[0], "rows_target": rows[1],
                   "no_data": no_data, "skipped": skipped, "warnings": warnings,
                   "alerts": [a["text"] for a in alerts],
                   "extra": {**(extra or {}), **(overall or {}),
                             **({"reference": self.reference} if self.reference else {})}}
        key = start.timestamp()
        with self.b.store.engine.begin() as conn:
            conn.execute(monitor_results.delete().where(sa.and_(
                monitor_results.c.monitor == self.monitor, monitor_results.c.signal == signal,
                monitor_results.c.window_start == key)))
            conn.execute(monitor_alerts.delete().where(sa.and_(  # a window run again replaces its alerts too
                monitor_alerts.c.monitor == self.monitor, monitor_alerts.c.signal == signal,
                monitor_alerts.c.window_start == key)))
            conn.execute(monitor_results.insert().values(
                monitor=self.monitor, signal=signal, window_start=key, window_end=end.timestamp(),
                job_name=self.job_name, backfill=self.backfill, drift_magnitude=magnitude,
                payload=json.dumps(payload, default=float), recorded_at=now()))
        for alert in alerts:
            if alert.get("notify", True):
                raise_alert(self.b, monitor=self.monitor, signal=signal, metric=alert["metric"], value=alert["value"],
                            threshold=alert["threshold"], feature=alert.get("feature"), window=(start, end),
                            job_name=self.job_name, emails=self.emails if alert.get("notify_email", True) else [],
                            webhook_url=self.webhook)
                self.alerts += 1
        state = "no data" if no_data else (f"magnitude {magnitude:.1f}" if magnitude is not None else "measured")
        say(f"{signal} {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}: {state}, rows {rows[0]}/{rows[1]}, "
            f"{len(alerts)} alert(s)" + "".join(f"\n  warning: {w}" for w in warnings))
        self.step += 1

    def finish(self) -> None:
        import mlflow
        import pandas as pd

        client = mlflow.MlflowClient()
        run_id = os.environ["MLFLOW_RUN_ID"]
        for i in range(0, len(self.metrics), 900):
            client.log_batch(run_id, metrics=self.metrics[i:i + 900])
        client.log_metric(run_id, "alerts", self.alerts)
        if self.table:
            client.log_table(run_id, data=pd.DataFrame(self.table), artifact_file="monitor_results.json")
        say(f"{self.step} window result(s), {len(self.metrics)} metric value(s), {self.alerts} alert(s) recorded")


# -- v1 dataset monitors ------------------------------------------------------------------------
_OFFSETS = {"Day": "D", "Week": "W-MON", "Month": "MS"}


def latest_window(moment: datetime, frequency: str) -> tuple[datetime, datetime]:
    """The last whole window of ``frequency`` that ends at or before ``moment`` (UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(moment).tz_convert("UTC").tz_localize(None)
    if frequency == "Day":
        end = stamp.normalize()
        start = end - pd.Timedelta(days=1)
    elif frequency == "Week":
        end = (stamp - pd.Timedelta(days=stamp.weekday())).normalize()
        start = end - pd.Timedelta(days=7)
    else:
        end = stamp.normalize().replace(day=1)
        start = (end - pd.Timedelta(days=1)).replace(day=1)
    return start.to_pydatetime().replace(tzinfo=UTC), end.to_pydatetime().replace(tzinfo=UTC)


def parquet_tables(backend: Any, definition: dict[str, Any]) -> tuple[Any, Any] | None:
    """The baseline's features and the target's clock and features as numpy columns (``drift.read_table``), or
    None where the DataFrame path must read them.

    Both datasets must be tabular versions stored as Parquet with every column read, and the
    target's ``timestamp_column`` a Parquet timestamp (text is parsed leniently by the DataFrame
    path, unparsable values as missing). A zoned clock is read in UTC, as the DataFrame path
    converts it. pandas is not imported here.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from studio_ext.backends.local.monitors.service import dataset_reference
    from studio_ext.entities import DataType
    from studio_ext.errors import StudioError
    from studio_ext.ml import drift

    ts, features = definition["timestamp_column"], list(definition["features"])
    service = backend.service("data")
    files = []
    for ref, wanted in ((definition["baseline"], features), (definition["target"], [ts, *features])):
        try:
            asset = service.get(*dataset_reference(ref))
            if asset.type != DataType.TABULAR:
                return None
            path = service.parquet_file(asset.name, asset.version)
        except StudioError:  # the DataFrame path says what is wrong
            return None
        schema = pq.read_schema(path)
        if any(schema.get_field_index(c) < 0 for c in wanted):
            return None
        files.append(path)
    if not pa.types.is_timestamp(schema.field(ts).type):  # the target's schema, read last in the loop
        return None
    baseline = drift.read_table(files[0], features)
    target = drift.read_table(files[1], list(dict.fromkeys([ts, *features])))
    if ts in target.timezones:
        target = drift.Columns(dict(target.items()), {**target.timezones, ts: "UTC"})
    return baseline, target


def _utc(moment: Any) -> datetime:
    """A window's bound (a pandas Timestamp or a datetime; naive ones are UTC) as a zoned datetime."""
    value: datetime = moment.to_pydatetime() if hasattr(moment, "to_pydatetime") else moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def run_dataset_monitor(backend: Any, spec: dict[str, Any], recorder: Recorder, *, columns: bool = True) -> None:
    """Compute a dataset monitor's windows. Parquet-backed datasets are read as numpy columns (``read_table``,
    as ``benchmarks/drift.py`` measures); others, or ``columns=False``, as DataFrames. Both give the same numbers."""
    from studio_ext.ml import drift

    d = spec["definition"]
    ts = d["timestamp_column"]
    features = list(d["features"])
    if spec["mode"] == "backfill":
        start, end = datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"])
    # a scheduled fire, or ws.data_drift.run (mode "run"): the latest whole window by the slot
    else:
        slot = datetime.fromisoformat(spec["slot"]) - timedelta(hours=int(d.get("latency") or 0))
        start, end = latest_window(slot, d["frequency"])
    # Only the compared columns are read (and the target's clock), column by column.
    tables = parquet_tables(backend, d) if columns else None
    if tables is not None:  # numpy columns: pandas is not needed to read or compare
        baseline = drift.Reference(tables[0])
        frame: Any = tables[1]
        first, last = start, end  # the windows cut a naive clock in UTC, a zoned one in its (UTC) zone
    else:
        import pandas as pd

        from studio_ext.backends.local.monitors.service import load_dataset

        baseline = drift.Reference(load_dataset(backend, d["baseline"], "baseline", columns=features))
        target = load_dataset(backend, d["target"], "target", columns=list(dict.fromkeys([ts, *features])))
        stamps = pd.to_datetime(target[ts], errors="coerce", utc=True)
        naive = getattr(pd.to_datetime(target[ts], errors="coerce").dt, "tz", None) is None
        frame = target.assign(**{ts: stamps.dt.tz_localize(None) if naive else stamps})

        def moment(value: datetime) -> pd.Timestamp:
            return pd.Timestamp(value).tz_convert("UTC").tz_localize(None) if naive else pd.Timestamp(value)

        first, last = moment(start), moment(end)

    say(f"Dataset monitor {spec['monitor']}: {d['target']} against {d['baseline']}, {d['frequency']} windows "
        f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, features {', '.join(features)}"
        + (" (read as numpy columns)" if tables is not None else ""))
    # One window at a time; the baseline's side of each feature is computed once, for all of them.
    for window in drift.iter_windows(frame, ts, d["frequency"], start=first, end=last):
        result = drift.compare(baseline, window.frame[features], features=features)
        alerts = []
        if result.magnitude is not None and result.magnitude > d["drift_threshold"]:
            alerts.append({"metric": "drift_magnitude", "value": result.magnitude, "threshold": d["drift_threshold"],
                           "feature": None, "text": f"drift magnitude {result.magnitude:.1f} over "
                                                    f"{d['drift_threshold']:.1f}"})
        recorder.window(
            "data_drift", _utc(window.start), _utc(window.end), magnitude=result.magnitude,
            features={n: dict(f.metrics) for n, f in result.features.items()},
            kinds={n: f.kind for n, f in result.features.items()}, rows=(result.rows_reference, result.rows_target),
            no_data=result.no_data, skipped=dict(result.skipped), warnings=list(result.warnings), alerts=alerts,
            extra={"feature_alerts": {n: list(a) for n, a in result.alerts.items()}})


# -- v2 model monitors --------------------------------------------------------------------------
def _thresholds(value: dict[str, Any] | None,
                defaults: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    if not value:
        return {k: dict(v) for k, v in defaults.items()}
    return {kind: {m: float(x) for m, x in (value.get(kind) or {}).items() if x is not None}
            for kind in ("numerical", "categorical")}


def collected(backend: Any, endpoint: str, deployment: str, collection: str, start: datetime,
              end: datetime) -> Any:
    """The deployment's collected rows of ``collection`` in [start, end), and the data asset's name (or why none)."""
    import pandas as pd

    from studio_ext.errors import StudioError
    from studio_ext.serving.data_collection import read_collected

    name = f"{endpoint}-{deployment}-{collection}"
    data = backend.service("data")
    try:
        folder = data.resolve_input_path(f"azureml:{name}@latest")
    except StudioError:  # not collected yet: no rows
        return pd.DataFrame(), f"no data asset {name!r} (nothing collected yet)"
    return read_collected(folder, start, end), name


META = ("correlationid", "time")  # the collector's columns on each row, not the model's


def read_data(backend: Any, data: dict[str, Any], window: tuple[datetime, datetime] | None, where: str) -> Any:
    """A signal's ``production_data`` / ``reference_data`` (its ``input_data``) over ``window`` (None: all of it).

    A ``uri_folder`` in the data collector's layout is read by each record's time; a table
    (mltable) is cut on its ``data_column_names.timestamp_column``.
    """
    from studio_ext.backends.local.monitors import windows
    from studio_ext.backends.local.monitors.service import dataset_reference
    from studio_ext.entities import DataType
    from studio_ext.errors import InvalidInput, NotFound
    from studio_ext.serving.data_collection import read_collected

    path = str(((data.get("input_data") or {}).get("path")) or "")
    service = backend.service("data")
    if path.startswith("azureml://"):
        folder = service.resolve_input_path(path)
    else:
        name, version = dataset_reference(path)
        try:
            asset = service.get(name, version)
        except NotFound:
            raise NotFound(f"{where}.input_data is {path!r}, a data asset that does not exist: register it, or "
                           "give azureml:NAME:VERSION of one that does.") from None
        if asset.type == DataType.TABULAR:
            frame = service.load(asset.name, asset.version)
            if window is None:
                return frame
            column = (data.get("data_column_names") or {}).get(windows.TIMESTAMP_KEY)
            if not column:
                windows.check_time_column({**data, "input_data": {"type": "mltable"}}, where)
            return windows.cut(frame, str(column), window, where)
        if asset.type != DataType.FOLDER:
            raise InvalidInput(f"{where}.input_data {path!r} is a {DataType(asset.type).azure_type} asset: a monitor "
                               "reads a table (mltable) or a folder of collected data (uri_folder).")
        folder = service.resolve_input_path(f"azureml:{asset.name}:{asset.version}")
    start, end = window if window is not None else (None, None)
    return read_collected(folder, start, end)


def as_labels(values: Any) -> Any:
    """Class labels as categories (text): 0/1 or 1.0 are classes, not numbers (``ml_task: classification``)."""
    import pandas as pd

    series = pd.Series(values)
    if series.dtype.kind in "biuf":
        whole = series.dropna()
        if len(whole) and (whole == whole.round()).all():
            return series.map(lambda v: None if pd.isna(v) else str(int(v))).astype("category")
    return series.map(lambda v: None if pd.isna(v) else str(v)).astype("category")


class References:
    """The reference datasets of a run's signals, each read once and only in the columns the signals compare
    (a reference over a time window, or collected data, is read whole for its window, once)."""

    def __init__(self, backend: Any) -> None:
        self.b = backend
        self._frames: dict[str, Any] = {}
        self._windowed: dict[tuple[str, Any], Any] = {}

    def is_table(self, ref: str) -> bool:
        from studio_ext.backends.local.monitors.service import dataset_reference
        from studio_ext.entities import DataType

        if ref.startswith("azureml://"):
            return False
        name, version = dataset_reference(ref)
        return bool(self.b.service("data").get(name, version).type == DataType.TABULAR)

    def windowed(self, ref: str, data: dict[str, Any], window: tuple[datetime, datetime] | None, where: str) -> Any:
        key = (ref, window)
        if key not in self._windowed:
            self._windowed[key] = read_data(self.b, {**data, "input_data": {**(data.get("input_data") or {}),
                                                                             "path": ref}}, window, where)
        return self._windowed[key]

    def columns(self, ref: str) -> list[str]:
        """The dataset's column names, from its registered schema (nothing read)."""
        from studio_ext.backends.local.monitors.service import dataset_reference

        name, version = dataset_reference(ref)
        return [c.name for c in self.b.service("data").get(name, version).columns]

    def frame(self, ref: str, columns: list[str]) -> Any:
        """The reference's ``columns`` (read on first use; later calls add only the columns not read yet)."""
        from studio_ext.backends.local.monitors.service import load_dataset

        have = self._frames.get(ref)
        missing = [c for c in dict.fromkeys(columns) if have is None or c not in have.columns]
        if missing:
            part = load_dataset(self.b, ref, "reference", columns=missing)
            have = part if have is None else have.join(part)
            self._frames[ref] = have
        assert have is not None
        return have[list(dict.fromkeys(columns))]


def run_time(slot: datetime) -> datetime:
    """The time a model monitor's windows end at for a run at ``slot``: the slot up to its next whole minute
    (cron's resolution). Runs within one minute (a frequent cron, a "Run now" after a fire) compute the same
    windows, so a later one replaces the earlier one's result instead of adding a near-identical window."""
    whole = slot.replace(second=0, microsecond=0)
    return whole if whole == slot else whole + timedelta(minutes=1)


def run_model_monitor(backend: Any, spec: dict[str, Any], recorder: Recorder) -> None:
    from studio_ext.backends.local.monitors import windows
    from studio_ext.backends.local.monitors.service import deployment_of, reference_of
    from studio_ext.errors import StudioError
    from studio_ext.ml import drift

    definition = spec["definition"]["create_monitor"]
    target = definition["monitoring_target"]
    classification = str(target.get("ml_task") or "").lower() == "classification"
    endpoint, deployment = deployment_of(target["endpoint_deployment_id"])
    slot = run_time(datetime.fromisoformat(spec["slot"]) if spec.get("slot") else datetime.now(UTC))
    # a signal's production look-back when its data_window gives none: the schedule's period (Azure's
    # default_data_window_size); monitors recorded before it was stored keep P7D
    default_size = spec["definition"].get("window_size") or windows.DEFAULT_LOOKBACK
    references = References(backend)
    for name, signal in (definition.get("monitoring_signals") or {}).items():
        kind = signal["type"]
        where = f"monitoring_signals.{name}"
        production = signal.get("production_data") or {}
        if isinstance(production, list):
            production = production[0] if production else {}
        collection = "model_outputs" if kind == "prediction_drift" else "model_inputs"
        notify = bool(signal.get("alert_enabled"))
        recorder.reference = None
        try:
            start, end = windows.production_window(production.get("data_window"), slot, f"{where}.production_data",
                                                   default_size)
        except StudioError as exc:
            recorder.window(name, slot, slot, magnitude=None, features={}, kinds={}, rows=(0, 0), no_data=True,
                            skipped={}, warnings=[exc.message], alerts=[], prefix=name)
            continue
        ref_spec = signal.get("reference_data") or {}
        try:
            ref_name = reference_of(backend, signal, target)
            ref_window = windows.reference_window(ref_spec.get("data_window"), slot, end - start,
                                                  f"{where}.reference_data")
            whole = None
            if ref_window is None and references.is_table(ref_name):
                ref_columns = references.columns(ref_name)
            else:  # a reference over a time window, or collected data: read for its window
                whole = references.windowed(ref_name, ref_spec, ref_window, f"{where}.reference_data")
                ref_columns = [c for c in whole.columns if c not in META]
        except StudioError as exc:  # said in the result; the other signals still run
            recorder.window(name, start, end, magnitude=None, features={}, kinds={}, rows=(0, 0), no_data=True,
                            skipped={}, warnings=[f"no reference data: {exc.message}"], alerts=[], prefix=name)
            continue
        if whole is not None and len(whole) == 0:  # e.g. an out-of-box monitor's first days: no past production yet
            span = (f" from {ref_window[0]:%Y-%m-%d %H:%M} to {ref_window[1]:%Y-%m-%d %H:%M} UTC"
                    if ref_window else "")
            recorder.reference = ref_name
            recorder.window(name, start, end, magnitude=None, features={}, kinds={}, rows=(0, 0), no_data=True,
                            skipped={}, warnings=[f"No reference data: {ref_name} has no rows{span}, so there is "
                                                  "nothing to compare with yet."], alerts=[], prefix=name)
            continue
        label = (ref_spec.get("data_column_names") or {}).get("target_column")
        try:
            if (production.get("input_data") or {}).get("path"):  # the data asset the signal names
                prod = read_data(backend, production, (start, end), f"{where}.production_data")
                source = str(production["input_data"]["path"])
            else:  # the deployment's collected data
                prod, source = collected(backend, endpoint, deployment, collection, start, end)
        except StudioError as exc:
            recorder.window(name, start, end, magnitude=None, features={}, kinds={}, rows=(0, 0), no_data=True,
                            skipped={}, warnings=[f"no production data: {exc.message}"], alerts=[], prefix=name)
            continue
        wanted = signal.get("features")
        common = [c for c in ref_columns if c in prod.columns and c != label]
        features = [f for f in wanted if f in common] if isinstance(wanted, list) else common
        if kind == "prediction_drift":  # the label (or the reference's last column) against the outputs
            if whole is not None and not label:  # collected outputs as the reference: the same output column
                needed = ref_columns[:1]
            else:
                needed = [label if label and label in ref_columns else ref_columns[-1]] if ref_columns else []
        else:
            needed = features
        # only the compared columns of the reference are read
        reference = whole[needed] if whole is not None else references.frame(ref_name, needed)
        say(f"Signal {name} ({kind}): {source} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC "
            f"({len(prod)} rows) against {ref_name} ({len(reference)} rows; columns read: "
            f"{', '.join(needed) or 'none'})")
        recorder.reference = ref_name
        top_note: list[str] = []
        if isinstance(wanted, dict) and wanted.get("top_n_feature_importance") and len(prod):
            features, top_note = top_features(backend, target, reference, features,
                                              int(wanted["top_n_feature_importance"]))
        alerts: list[dict[str, Any]] = []
        if kind == "data_drift" or kind == "prediction_drift":
            if kind == "prediction_drift":
                ref_out = reference
                column = ref_out.columns[0] if len(ref_out.columns) else "prediction"
                outputs = [c for c in prod.columns if c not in META]
                out_cols = [c for c in outputs if c == column] or outputs[:1]
                prod_out = prod[out_cols].rename(columns={out_cols[0]: column}) if out_cols else prod
                if classification:  # class labels are categories, as Azure reads a classifier's outputs
                    ref_out = ref_out.assign(**{column: as_labels(ref_out[column]).to_numpy()})
                    if column in prod_out.columns:
                        prod_out = prod_out.assign(**{column: as_labels(prod_out[column]).to_numpy()})
                limits = _thresholds(signal.get("metric_thresholds"), drift.DEFAULT_THRESHOLDS)
                result = drift.prediction_drift(ref_out, prod_out, thresholds=limits)
            else:
                limits = _thresholds(signal.get("metric_thresholds"), drift.DEFAULT_THRESHOLDS)
                result = drift.compare(reference[features], prod[features] if len(prod) else prod.reindex(
                    columns=features), features=features, thresholds=limits)
            for feature, found in result.features.items():
                for metric in found.alerts:
                    key = f"{metric}_p_value" if metric in drift.TEST_METRICS else metric
                    alerts.append({"metric": metric, "value": found.metrics[key], "feature": feature,
                                   "threshold": limits[found.kind][metric], "notify_email": notify,
                                   "text": f"{feature} {metric}"})
            recorder.window(name, start, end, magnitude=result.magnitude,
                            features={n: dict(f.metrics) for n, f in result.features.items()},
                            kinds={n: f.kind for n, f in result.features.items()},
                            rows=(result.rows_reference, result.rows_target), no_data=result.no_data,
                            skipped=dict(result.skipped), warnings=top_note + list(result.warnings), alerts=alerts,
                            prefix=name, extra={"feature_alerts": {n: list(a) for n, a in result.alerts.items()}})
        elif kind == "data_quality":
            quality = drift.data_quality(reference, prod, features) if len(prod) else {}
            limits = signal.get("metric_thresholds") or {}
            values: dict[str, dict[str, float]] = {}
            kinds: dict[str, str] = {}
            for feature, rates in quality.items():
                fkind = "numerical" if reference[feature].dtype.kind in "biuf" else "categorical"
                kinds[feature] = fkind
                values[feature] = {m: v for m, v in rates.items() if v is not None}
                bounds = limits.get(fkind) or {m: 0.0 for m in drift.DATA_QUALITY_METRICS}
                for metric, threshold in bounds.items():
                    value = rates.get(metric)
                    if threshold is not None and value is not None and value > threshold:
                        alerts.append({"metric": metric, "value": value, "threshold": threshold, "feature": feature,
                                       "notify_email": notify, "text": f"{feature} {metric}"})
            recorder.window(name, start, end, magnitude=None, features=values, kinds=kinds,
                            rows=(len(reference), len(prod)), no_data=len(prod) == 0, skipped={},
                            warnings=top_note + ([] if len(prod) else ["No data: nothing was collected in this window."]),
                            alerts=alerts, prefix=name)
        else:  # feature_attribution_drift
            attribution_signal(backend, recorder, name, signal, target, reference, prod, features, (start, end),
                               notify)


def _explained(backend: Any, target: dict[str, Any], frame: Any, features: list[str]) -> dict[str, float]:
    """The deployed model's global importance (SHAP) on up to EXPLAIN_ROWS rows of ``frame``."""
    from studio_ext.backends.local.insights.inputs import load_model, resolve_model
    from studio_ext.backends.local.monitors.service import deployment_of
    from studio_ext.ml.explain import explain

    endpoint, deployment_name = deployment_of(target["endpoint_deployment_id"])
    model_ref = target.get("model_id") or backend.service("online_deployments").get(
        deployment_name, endpoint_name=endpoint).model
    model = load_model(backend, resolve_model(backend, model_ref))
    found = explain(model, frame[features], features=features, sample=min(EXPLAIN_ROWS, len(frame)))
    return dict(found.global_importance)


def top_features(backend: Any, target: dict[str, Any], reference: Any, features: list[str],
                 n: int) -> tuple[list[str], list[str]]:
    """The ``n`` features the deployed model finds most important on the reference (Azure's
    ``MonitorFeatureFilter(top_n_feature_importance=n)``), and a note saying which."""
    from studio_ext.errors import StudioError

    try:
        importance = _explained(backend, target, reference, features)
    except StudioError as exc:
        return features, [f"Top {n} features by importance not found ({exc.message}): every feature compared."]
    ranked = sorted(features, key=lambda f: -abs(float(importance.get(f, 0.0))))[:n]
    return ranked, [f"Top {n} features by the model's importance on the reference: {', '.join(ranked)}."]


def attribution_signal(backend: Any, recorder: Recorder, name: str, signal: dict[str, Any], target: dict[str, Any],
                       reference: Any, prod: Any, features: list[str], window: tuple[datetime, datetime],
                       notify: bool) -> None:
    """Feature attribution drift: the deployed model's SHAP global importance on the reference and on production,
    compared as Azure does (normalized discounted cumulative gain; an alert when it falls under the threshold)."""
    from studio_ext.errors import StudioError
    from studio_ext.ml import drift

    start, end = window
    if len(prod) == 0 or not features:
        recorder.window(name, start, end, magnitude=None, features={}, kinds={}, rows=(len(reference), len(prod)),
                        no_data=True, skipped={}, alerts=[], prefix=name,
                        warnings=["No data: nothing was collected in this window." if features else
                                  "No feature is in both the reference and the production data."])
        return
    try:
        ref_importance = _explained(backend, target, reference, features)
        prod_importance = _explained(backend, target, prod, features)
    except StudioError as exc:  # said in the result; the other signals have run
        recorder.window(name, start, end, magnitude=None, features={}, kinds={}, rows=(len(reference), len(prod)),
                        no_data=True, skipped={}, alerts=[], prefix=name,
                        warnings=[f"The deployed model could not be explained: {exc.message}"])
        return
    ndcg = drift.attribution_drift(ref_importance, prod_importance)
    limit = (signal.get("metric_thresholds") or {}).get("normalized_discounted_cumulative_gain")
    threshold = float(limit) if limit is not None else drift.DEFAULT_ATTRIBUTION_THRESHOLD
    alerts = [{"metric": "normalized_discounted_cumulative_gain", "value": ndcg, "threshold": threshold,
               "feature": None, "notify_email": notify, "text": f"NDCG {ndcg:.3f} under {threshold:.3f}"}
              ] if ndcg < threshold else []
    recorder.window(name, start, end, magnitude=None,
                    features={f: {"reference_importance": float(ref_importance.get(f, 0.0)),
                                  "production_importance": float(prod_importance.get(f, 0.0))} for f in features},
                    kinds={}, rows=(len(reference), len(prod)), no_data=False, skipped={}, warnings=[], alerts=alerts,
                    prefix=name, overall={"normalized_discounted_cumulative_gain": ndcg})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitor_run")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args(argv)

    from studio_ext.backends.local import LocalBackend
    from studio_ext.workspace import Workspace

    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    backend = LocalBackend.of(Workspace(args.workspace))
    job_name = os.environ.get("AZUREML_RUN_ID", "")
    d = spec["definition"]
    if spec["kind"] == "data_drift":
        emails, webhook = list(d.get("alert_emails") or []), d.get("alert_webhook")
    else:
        alert = d["create_monitor"].get("alert_notification") or {}
        emails, webhook = list(alert.get("emails") or []), d.get("webhook_url")
    recorder = Recorder(backend, spec["monitor"], job_name, spec["mode"] == "backfill", emails, webhook)
    if spec["kind"] == "data_drift":
        run_dataset_monitor(backend, spec, recorder)
    else:
        run_model_monitor(backend, spec, recorder)
    recorder.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
