"""What the run explorer asks of ``ws.jobs`` on the local backend.

Mixed into :class:`~studio_ext.backends.local.jobs.service.LocalJobs`, so the names sit
beside ``create_or_update``/``get``/``list`` as in azure-ai-ml and MLflow:
``search`` (filter, sort, page), ``experiments``, ``run_columns``,
``get_metric_history`` (downsampled, extremes kept), ``list_artifacts``,
``read_artifact``, ``tail_log``, ``get_lineage``, ``resubmit`` and the explorer's
per-experiment ``get_run_view``/``save_run_view``.

Searching goes through :mod:`.run_index` (the trigger-fed index on SQLite, SQL over
MLflow's tables elsewhere); filters are parsed by :mod:`.run_query`.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import mimetypes
import re
import shutil
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from studio_ext._validation import check_name, resolve_inside
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.runs.index import MlflowTables, MlflowTablesSearch, RunIndex, SearchRequest
from studio_ext.backends.local.runs.query import (
    ATTRIBUTES,
    ColumnKind,
    OrderKey,
    check_known_columns,
    columns_of,
    compile_filter,
    parse_column,
    parse_filter,
    parse_order_by,
)
from studio_ext.entities import ACTIVE_STATES, CommandJob, Input, Job, JobStatus, Output
from studio_ext.entities._run import (
    ArtifactContent,
    ArtifactInfo,
    ExperimentSummary,
    LogTail,
    MetricHistory,
    RunColumns,
    RunLineage,
    RunPage,
    RunSummary,
    RunView,
)
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.ml.downsample import MIN_POINTS, downsample_indices

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

MAX_PAGE_SIZE = 1000
DEFAULT_ORDER = [OrderKey(parse_column("start_time"), descending=True)]
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_LOG_ARTIFACT = "user_logs/std_log.txt"


def _to_datetime_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _to_datetime_s(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class RunExplorerReads:
    """The run explorer's part of ``ws.jobs`` (see the module docstring)."""

    _b: LocalBackend
    _explorer_lock = threading.Lock()

    # -- the read paths, built once per workspace per process ---------------------------------
    def _tables(self) -> MlflowTables:
        with self._explorer_lock:
            if getattr(self, "_mlflow_tables", None) is None:
                self._mlflow_tables = MlflowTables(self._b.tracking_uri)
            return self._mlflow_tables

    def _index(self) -> RunIndex | None:
        """The fast index for SQLite stores; None where the generic SQL path is used."""
        db = tracking.sqlite_path(self._b.tracking_uri)
        if db is None:
            return None
        with self._explorer_lock:
            if getattr(self, "_run_index", None) is None:
                self._run_index = RunIndex(Path(db), self._b.path / "run_index.db")
            return self._run_index

    def refresh_run_index(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Bring the run index up to date now (searches do it themselves); return runs applied.

        ``progress(done, total)`` is called as runs are indexed: the first search on a
        large store builds the whole index once (~30 s at 100,000 runs).
        """
        index = self._index()
        return index.refresh(progress) if index is not None else 0

    def run_index_pending(self) -> int:
        """How many runs the next search must index first (0 when there is no index to keep)."""
        index = self._index()
        return index.pending() if index is not None else 0

    # -- experiments and columns ----------------------------------------------------------------
    def experiments(self, *, include_archived: bool = False) -> builtins.list[ExperimentSummary]:
        """Experiments with their run counts and last activity, most recently active first."""
        tables = self._tables()
        exps = tables.experiments_by_name(include_archived=include_archived)
        index = self._index()
        if index is not None:
            index.refresh()
            stats = index.experiment_stats()
        else:
            stats = MlflowTablesSearch(tables).experiment_stats()
        out = []
        for name, e in exps.items():
            count, last = stats.get(int(e["experiment_id"]), (0, None))
            last = last or e.get("last_update_time") or e.get("creation_time")
            out.append(ExperimentSummary(name=name, experiment_id=str(e["experiment_id"]), run_count=int(count),
                                         last_activity=_to_datetime_ms(last),
                                         archived=e["lifecycle_stage"] != "active"))
        out.sort(key=lambda x: x.last_activity.timestamp() if x.last_activity else 0.0, reverse=True)
        return out

    def _experiment_ids(self, names: Iterable[str] | str | None) -> tuple[builtins.list[int], str]:
        exps = self._tables().experiments_by_name()
        if names is None:
            return [int(e["experiment_id"]) for e in exps.values()], "any experiment"
        if isinstance(names, str):
            names = [names]
        names = list(names)
        missing = [n for n in names if n not in exps]
        if missing:
            raise NotFound(
                f"There is no experiment named {missing[0]!r}. Experiments: {', '.join(sorted(exps)) or 'none'}."
            )
        scope = f"experiment {names[0]!r}" if len(names) == 1 else f"experiments {', '.join(map(repr, names))}"
        return [int(exps[n]["experiment_id"]) for n in names], scope

    def _known_keys(self, experiment_ids: builtins.list[int]) -> dict[ColumnKind, set[str]]:
        index = self._index()
        if index is not None:
            index.refresh()
            return index.known_keys(experiment_ids)
        return MlflowTablesSearch(self._tables()).known_keys(experiment_ids)

    def run_columns(self, experiment_names: Iterable[str] | str | None = None) -> RunColumns:
        """The columns a runs table can show for these experiments (metrics, params, tags seen)."""
        ids, _ = self._experiment_ids(experiment_names)
        keys = self._known_keys(ids)
        return RunColumns(
            attributes=list(ATTRIBUTES),
            metrics=sorted(keys[ColumnKind.METRIC]),
            params=sorted(keys[ColumnKind.PARAM]),
            tags=sorted(k for k in keys[ColumnKind.TAG] if not k.startswith(("mlflow.", "studio."))),
        )

    # -- search ----------------------------------------------------------------------------------
    def search(
        self,
        experiment_names: Iterable[str] | str | None = None,
        *,
        filter: str | None = None,  # noqa: A002 - MLflow's and azure's name for it
        order_by: Iterable[str] | str | None = None,
        search_text: str | None = None,
        status: str | JobStatus | Iterable[str | JobStatus] | None = None,
        archived: bool | None = False,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> RunPage:
        """Find runs (jobs and interactive MLflow runs), filtered, sorted and paged.

        Example::

            page = ws.jobs.search(["diabetes"], filter="metrics.r2 > 0.4 and params.alpha = '0.5'",
                                  order_by=["metrics.r2 DESC"], page_size=50)
            more = ws.jobs.search(["diabetes"], ..., page_token=page.next_page_token)

        ``archived=False`` shows active runs, True only archived ones, None both. Runs
        lacking a sort column come last. Unknown columns and syntax errors raise
        ``InvalidInput`` naming them.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"The 'page_size' parameter of search must be an int in [1, {MAX_PAGE_SIZE}]. Got {page_size!r} instead.")
        if archived not in (True, False, None):
            raise InvalidInput(f"The 'archived' parameter of search must be True, False or None. Got {archived!r}.")
        node = parse_filter(filter)
        order = parse_order_by(order_by) or list(DEFAULT_ORDER)
        statuses = _statuses(status)
        if search_text is not None and not isinstance(search_text, str):
            raise InvalidInput(f"search_text must be a string. Got {type(search_text).__name__} instead.")
        ids, scope = self._experiment_ids(experiment_names)
        fingerprint = hashlib.sha1(json.dumps(
            [sorted(ids), filter, [str(o) for o in order], search_text, sorted(s.value for s in statuses or ()),
             archived], default=str).encode()).hexdigest()[:12]
        offset = _decode_token(page_token, fingerprint)
        used = columns_of(node) + [o.column for o in order]
        # A filter naming a key no run has is a mistake worth a message; sorting by one is
        # not (as in MLflow, runs lacking the key simply come last).
        check_known_columns(columns_of(node), self._known_keys(ids), scope)
        dialect = self._tables().dialect

        def where(resolver: Any) -> sa.ColumnElement:
            cond = compile_filter(node, resolver, dialect=dialect)
            if search_text and search_text.strip():
                text = search_text.strip()
                name = resolver.column(parse_column("name"))
                job = resolver.column(parse_column("job_name"))
                run_id = resolver.column(parse_column("run_id"))
                cond = sa.and_(cond, sa.or_(
                    name.icontains(text, autoescape=True), job.icontains(text, autoescape=True),
                    run_id.istartswith(text.lower(), autoescape=True)))
            if statuses:
                cond = sa.and_(cond, resolver.status_in(statuses))
            return cond

        request = SearchRequest(
            experiment_ids=ids, where=where, order=order,
            lifecycle={False: "active", True: "deleted", None: None}[archived],
            offset=offset, limit=page_size, active_jobs=self._active_jobs(),
        )
        filtered = node is not None or bool(statuses) or bool(search_text and search_text.strip())
        run_ids, total = self._find_run_ids(request, used, filtered=filtered)
        runs = self._summaries(run_ids)
        end = offset + len(run_ids)
        token = _encode_token(end, fingerprint) if end < total else None
        return RunPage(runs=runs, total=total, next_page_token=token, offset=offset)

    def _find_run_ids(self, request: SearchRequest, used: builtins.list[Any], *, filtered: bool,
                      use_index: bool = True) -> tuple[builtins.list[str], int]:
        """The index where it covers the columns, else SQL over MLflow's tables (same answer)."""
        index = self._index() if use_index else None
        if index is not None and index.covers(used):
            index.prepare_sort(request.order)
            return index.search(request, filtered=filtered)
        return MlflowTablesSearch(self._tables()).search(request)

    def _active_jobs(self) -> dict[str, JobStatus]:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table.c.run_id, jobs_table.c.status).where(
                jobs_table.c.status.in_([s.value for s in ACTIVE_STATES]))).all()
        return {r.run_id: JobStatus(r.status) for r in rows}

    def _summaries(self, run_ids: builtins.list[str]) -> builtins.list[RunSummary]:
        """The page's rows from MLflow's tables, with job rows adding their exact state."""
        data = self._tables().run_rows(run_ids)
        with self._b.store.engine.connect() as conn:
            jobs = {r.run_id: r for r in conn.execute(sa.select(jobs_table).where(
                jobs_table.c.run_id.in_(run_ids)))} if run_ids else {}
        if any(r.status in {s.value for s in ACTIVE_STATES} for r in jobs.values()):
            self._reconcile_if_needed(list(jobs.values()))  # type: ignore[attr-defined]
        out = []
        for rid in run_ids:
            d = data.get(rid)
            if d is None:  # deleted between the search and this read
                continue
            out.append(self._summary(d, jobs.get(rid)))
        return out

    @staticmethod
    def _summary(d: dict[str, Any], job: Any) -> RunSummary:
        tags = d["tags"]
        user_tags = {k: v for k, v in tags.items() if not k.startswith(("mlflow.", "studio."))}
        common = dict(
            run_id=d["run_uuid"], experiment_name=d.get("experiment_name"), display_name=d.get("name"),
            parent_run_id=tags.get("mlflow.parentRunId"), metrics=d["metrics"], params=d["params"],
            tags=user_tags, archived=d.get("lifecycle_stage") == "deleted",
        )
        if job is not None:
            return RunSummary(
                # a sweep's row keeps its compute as sweep:NAME, off the job runners' way
                name=job.name, status=JobStatus(job.status), compute=job.compute.removeprefix("sweep:"),
                job_type=job.type,
                start_time=_to_datetime_s(job.start_time) or _to_datetime_ms(d.get("start_time")),
                end_time=_to_datetime_s(job.end_time), **common)
        return RunSummary(
            name=tags.get("studio.job_name", d["run_uuid"]), status=JobStatus.from_mlflow(d.get("status")) or JobStatus.RUNNING,
            compute=tags.get("studio.compute", "interactive"), job_type=tags.get("studio.job_type", "interactive"),
            start_time=_to_datetime_ms(d.get("start_time")), end_time=_to_datetime_ms(d.get("end_time")),
            interactive="studio.job_name" not in tags, **common)

    def run_summary(self, name: str) -> RunSummary:
        """One run as the runs table shows it (job or interactive run)."""
        run_id, _ = self._resolve_run(name)
        rows = self._summaries([run_id])
        if not rows:
            raise NotFound(f"There is no job or run named {name!r}. List them with ws.jobs.search().")
        return rows[0]

    # -- one run -----------------------------------------------------------------------------------
    def _resolve_run(self, name: str) -> tuple[str, Any]:
        """(MLflow run id, job row or None) for a job name or a run id."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"A job or run name must be a non-empty string. Got {name!r} instead.")
        row = self._row(name)  # type: ignore[attr-defined]
        if row is not None:
            return row.run_id, row
        if _RUN_ID.match(name):
            with self._b.store.engine.connect() as conn:
                row = conn.execute(sa.select(jobs_table).where(jobs_table.c.run_id == name)).first()
            if row is not None:
                return name, row
            runs = self._tables().runs
            with self._tables().engine.connect() as conn:
                if conn.execute(sa.select(runs.c.run_uuid).where(runs.c.run_uuid == name)).first():
                    return name, None
        raise NotFound(f"There is no job or run named {name!r}. List them with ws.jobs.search().")

    def get_metric_history(self, name: str, key: str, *, max_points: int | None = None) -> MetricHistory:
        """A metric over its steps; with ``max_points`` downsampled for a chart (LTTB, extremes kept).

        NaN and infinite values are counted in ``non_finite_points`` and left out when downsampling.
        """
        if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                       or max_points < MIN_POINTS):
            raise InvalidInput(
                f"The 'max_points' parameter of get_metric_history must be None or an int >= {MIN_POINTS}. "
                f"Got {max_points!r} instead.")
        run_id, _ = self._resolve_run(name)
        tables = self._tables()
        rows = tables.metric_history(run_id, key)
        if not rows:
            keys = tables.metric_keys(run_id)
            raise NotFound(f"Run {name!r} has no metric {key!r}. Its metrics: {', '.join(keys) or 'none'}.")
        arr = np.array(rows, dtype=np.float64)  # is_nan comes as 0/1 (or bool): one C-level conversion
        steps, stamps, values = arr[:, 0], arr[:, 1] / 1000.0, arr[:, 2].copy()
        values[arr[:, 3] != 0] = np.nan
        total = len(rows)
        if max_points is None:
            return MetricHistory(key=key, run_name=name, steps=steps.tolist(), values=values.tolist(),
                                 timestamps=stamps.tolist(), total_points=total,
                                 non_finite_points=int((~np.isfinite(values)).sum()))
        finite = np.isfinite(values)
        steps, stamps, values = steps[finite], stamps[finite], values[finite]
        idx = downsample_indices(steps, values, max_points)
        return MetricHistory(key=key, run_name=name, steps=steps[idx].tolist(), values=values[idx].tolist(),
                             timestamps=stamps[idx].tolist(), total_points=total,
                             downsampled=len(idx) < len(steps), non_finite_points=int((~finite).sum()))

    # -- artifacts and logs ---------------------------------------------------------------------------
    def _artifact_root(self, run_id: str) -> tuple[str, Path | None]:
        runs = self._tables().runs
        with self._tables().engine.connect() as conn:
            uri = conn.execute(sa.select(runs.c.artifact_uri).where(runs.c.run_uuid == run_id)).scalar()
        uri = uri or ""
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme in ("", "file"):
            return uri, Path(urllib.request.url2pathname(parsed.path))
        return uri, None

    @staticmethod
    def _check_artifact_path(path: str) -> str:
        if path in ("", ".", None):
            return ""
        # Same rules as every other path a user gives: no '..', no absolute paths, no schemes.
        resolve_inside(Path(tempfile.gettempdir()) / "studio-artifact-check", path, "artifact path")
        return path.strip("/")

    def list_artifacts(self, name: str, path: str = "") -> builtins.list[ArtifactInfo]:
        """Files and folders among a run's artifacts under ``path`` (folders first)."""
        run_id, _ = self._resolve_run(name)
        path = self._check_artifact_path(path)
        _, root = self._artifact_root(run_id)
        if root is not None:
            folder = resolve_inside(root, path, "artifact path") if path else root
            if not folder.exists():
                return []
            if not folder.is_dir():
                raise InvalidInput(f"{path!r} is a file among the artifacts of {name!r}; read it with read_artifact.")
            items = [ArtifactInfo(path=str(p.relative_to(root)), is_dir=p.is_dir(),
                                  size=None if p.is_dir() else p.stat().st_size) for p in folder.iterdir()]
        else:
            infos = tracking.client(self._b.tracking_uri).list_artifacts(run_id, path or None)
            items = [ArtifactInfo(path=i.path, is_dir=i.is_dir, size=i.file_size) for i in infos]
        return sorted(items, key=lambda i: (not i.is_dir, i.path))

    def read_artifact(self, name: str, path: str, *, max_bytes: int = 1_000_000) -> ArtifactContent:
        """The first ``max_bytes`` of an artifact file, for a preview (``truncated`` says if cut)."""
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidInput(f"The 'max_bytes' parameter of read_artifact must be a positive int. Got {max_bytes!r}.")
        run_id, _ = self._resolve_run(name)
        rel = self._check_artifact_path(path)
        if not rel:
            raise InvalidInput("read_artifact needs the path of a file, such as 'outputs/metrics.csv'.")
        _, root = self._artifact_root(run_id)
        media = mimetypes.guess_type(rel)[0] or ("text/plain" if rel.endswith((".log", ".txt", ".md", ".yaml",
                                                                                 ".yml", ".json", ".py"))
                                                 else "application/octet-stream")
        with tempfile.TemporaryDirectory() as tmp:
            if root is not None:
                file = resolve_inside(root, rel, "artifact path")
            else:
                from mlflow.artifacts import download_artifacts
                from mlflow.exceptions import MlflowException

                try:
                    file = Path(download_artifacts(run_id=run_id, artifact_path=rel, dst_path=tmp,
                                                   tracking_uri=self._b.tracking_uri))
                except (MlflowException, OSError) as exc:
                    raise NotFound(f"Run {name!r} has no artifact {rel!r} ({exc}).") from exc
            if not file.exists():
                raise NotFound(
                    f"Run {name!r} has no artifact {rel!r}: it was never logged or has been deleted. "
                    f"List what there is with ws.jobs.list_artifacts({name!r}).")
            if file.is_dir():
                raise InvalidInput(f"{rel!r} is a folder; list it with ws.jobs.list_artifacts({name!r}, {rel!r}).")
            size = file.stat().st_size
            with open(file, "rb") as handle:
                data = handle.read(max_bytes)
        return ArtifactContent(path=rel, data=data, size=size, truncated=size > len(data), media_type=media)

    def tail_log(self, name: str, *, max_bytes: int = 64_000) -> LogTail:
        """The end of a job's log; from its stored copy if the file is gone; ``missing`` if neither exists."""
        run_id, row = self._resolve_run(name)
        if row is None:
            return LogTail(missing=True, message="This run was logged outside a job (interactive MLflow), "
                                                 "so it has no job log.")
        path = self._b.jobs_dir / row.name / "user_logs" / "std_log.txt"
        if path.is_file():
            size = path.stat().st_size
            with open(path, "rb") as handle:
                handle.seek(max(0, size - max_bytes))
                data = handle.read()
            return LogTail(text=data.decode("utf-8", errors="replace"), size=size, truncated=size > max_bytes)
        try:
            stored = self.read_artifact(name, _LOG_ARTIFACT, max_bytes=10 ** 9)
        except NotFound:
            stored = None
        if stored is not None:
            data = stored.data[-max_bytes:]
            return LogTail(text=data.decode("utf-8", errors="replace"), size=stored.size,
                           truncated=stored.size > max_bytes,
                           message=f"The log file {path} is gone; showing the copy stored with the run's artifacts.")
        status = JobStatus(row.status)
        if status in (JobStatus.NOT_STARTED, JobStatus.QUEUED, JobStatus.STARTING):
            return LogTail(missing=True, message=f"The job is {status}; its log starts when it runs.")
        return LogTail(missing=True, message=f"The log of job {row.name!r} is missing: {path} was deleted and the "
                                             "run has no stored copy.")

    def get_lineage(self, name: str) -> RunLineage:
        """Datasets and files the run read, and the models it produced (registered or logged)."""
        run_id, row = self._resolve_run(name)
        inputs: list[dict[str, str]] = []
        if row is not None:
            for key, spec in json.loads(row.spec).get("input_specs", {}).items():
                if "path" in spec and spec.get("path") is not None:
                    inputs.append({"name": key, "type": str(spec.get("type")), "path": str(spec["path"])})
        client = tracking.client(self._b.tracking_uri)
        run = client.get_run(run_id)
        for ds_input in getattr(run.inputs, "dataset_inputs", None) or []:
            ds = ds_input.dataset
            inputs.append({"name": ds.name, "type": "mlflow dataset", "path": ds.source, "digest": ds.digest})
        models = [{"name": mv.name, "version": str(mv.version), "kind": "registered", "source": mv.source or ""}
                  for mv in client.search_model_versions(f"run_id = '{run_id}'")]
        try:
            logged = client.search_logged_models([run.info.experiment_id],
                                                 filter_string=f"source_run_id = '{run_id}'")
        except Exception:  # noqa: BLE001 - stores without logged-model support: registered models still show
            logged = []
        for m in logged:
            models.append({"name": m.name, "version": "", "kind": "logged", "source": m.model_id})
        return RunLineage(inputs=inputs, models=models)

    # -- actions ---------------------------------------------------------------------------------------
    def resubmit(self, name: str, *, inputs: dict[str, Any] | None = None, display_name: str | None = None,
                 tags: dict[str, str] | None = None, experiment_name: str | None = None) -> Job:
        """Submit a finished (or running) job again, with some inputs changed.

        Literal inputs keep their type (``"3"`` becomes 3 for an int input); file and
        folder inputs take a new path. The code is the job's original folder when it
        still exists, else the snapshot the job ran (without its ``outputs``).
        """
        _, row = self._resolve_run(name)
        if row is None:
            raise Conflict(f"{name!r} is a run logged outside a job; it has no command to re-submit.")
        if row.type == "pipeline":  # its v2 definition submitted again, steps and all
            return self._b.service("pipelines").resubmit(row.name, inputs=inputs, tags=tags)
        spec = json.loads(row.spec)
        specs: dict[str, dict[str, Any]] = spec.get("input_specs", {})
        edits = dict(inputs or {})
        unknown = sorted(set(edits) - set(specs))
        if unknown:
            raise InvalidInput(f"Job {row.name!r} has no input {unknown[0]!r}. Its inputs: "
                               f"{', '.join(sorted(specs)) or 'none'}.")
        new_inputs = {k: _edited_input(k, s, edits[k]) if k in edits else _original_input(s)
                      for k, s in specs.items()}
        from studio_ext._builders import command

        job_tags = {**spec.get("tags", {}), **{str(k): str(v) for k, v in (tags or {}).items()},
                    "resubmitted_from": row.name}
        code = spec.get("code")
        tmp = None
        if code is None or not Path(code).is_dir():
            snapshot = self._b.jobs_dir / row.name / "code"
            if snapshot.is_dir():
                tmp = tempfile.mkdtemp(prefix="studio-resubmit-")
                code = str(Path(tmp) / "code")
                shutil.copytree(snapshot, code, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
            else:
                code = None
        try:
            job: CommandJob = command(
                command=spec["command"], code=code, inputs=new_inputs,
                outputs={k: Output(**{f: x for f, x in v.items() if f in Output.__dataclass_fields__})
                         for k, v in spec.get("outputs", {}).items()},  # the row also keeps where each went
                environment=spec.get("environment"), environment_variables=spec.get("environment_variables", {}),
                compute=row.compute, experiment_name=experiment_name or row.experiment_name,
                display_name=display_name or spec.get("display_name"), description=spec.get("description"),
                tags=job_tags,
            )
            return self.create_or_update(job)  # type: ignore[attr-defined]
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    # -- per-experiment saved views (the column chooser) ----------------------------------------------
    @staticmethod
    def _view_key(experiment_name: str) -> str:
        check_name(experiment_name, "experiment name")
        return f"run_explorer.view.{experiment_name}"

    def get_run_view(self, experiment_name: str) -> RunView:
        """The runs table's saved view of an experiment (columns, order_by, page_size, filter)."""
        saved = dict(self._b.store.get_setting(self._view_key(experiment_name), {}) or {})
        return RunView(columns=list(saved.get("columns", [])), order_by=list(saved.get("order_by", [])),
                       page_size=saved.get("page_size"), filter=saved.get("filter"))

    def save_run_view(self, experiment_name: str, view: RunView) -> RunView:
        """Save which columns (and order, page size, filter) the runs table shows for an experiment."""
        key = self._view_key(experiment_name)
        if not isinstance(view, RunView):
            raise InvalidInput(f"A run view must be a RunView. Got {type(view).__name__} instead.")
        clean: dict[str, Any] = {}
        cols = view.columns
        if not isinstance(cols, (list, tuple)) or not all(isinstance(c, str) for c in cols):
            raise InvalidInput("The view's 'columns' must be a list of column names such as 'metrics.r2'.")
        if cols:
            clean["columns"] = [str(parse_column(c)) for c in cols]
        if view.order_by:
            clean["order_by"] = [str(o) for o in parse_order_by(view.order_by)]
        size = view.page_size
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
                raise InvalidInput(f"The view's 'page_size' must be an int in [1, {MAX_PAGE_SIZE}]. Got {size!r}.")
            clean["page_size"] = size
        if view.filter is not None:
            parse_filter(view.filter)
            clean["filter"] = view.filter or ""
        self._b.store.set_setting(key, clean)
        return self.get_run_view(experiment_name)


def _statuses(status: Any) -> set[JobStatus] | None:
    if status is None:
        return None
    items = [status] if isinstance(status, (str, JobStatus)) else list(status)
    out = set()
    for item in items:
        try:
            out.add(JobStatus(item) if not isinstance(item, str) or item in {s.value for s in JobStatus}
                    else {s.value.lower(): s for s in JobStatus}[item.lower()])
        except (KeyError, ValueError):
            raise InvalidInput(
                f"{item!r} is not a job status. Use one of: {', '.join(s.value for s in JobStatus)}.") from None
    return out


def _encode_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": fingerprint}).encode()).decode()


def _decode_token(token: str | None, fingerprint: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, owner = int(data["o"]), data["q"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("The page_token is not one that search returned; start again without it.") from None
    if owner != fingerprint or offset < 0:
        raise InvalidInput("The page_token belongs to a different search (filter, order or experiments changed); "
                           "start again without it.")
    return offset


def _original_input(spec: dict[str, Any]) -> Any:
    if "value" in spec and spec.get("type") in ("int", "float", "str", "bool"):
        return spec["value"]
    if spec.get("declared") or (spec.get("optional") and "path" not in spec):  # a typed literal, or one left out
        return Input(type=spec.get("type", "string"), default=spec.get("value"), optional=bool(spec.get("optional")))
    return Input(type=spec.get("type", "uri_folder"), path=spec.get("path"), mode=spec.get("mode") or "ro_mount",
                 optional=bool(spec.get("optional")))


def _edited_input(key: str, spec: dict[str, Any], value: Any) -> Any:
    kind = spec.get("type")
    if isinstance(value, Input):
        return value
    if kind in ("integer", "number", "boolean", "string"):  # declared types: checked when it is submitted
        return Input(type=kind, default=value, optional=bool(spec.get("optional")))
    if kind in ("int", "float", "bool", "str"):
        text = str(value).strip()
        try:
            if kind == "int":
                return int(text)
            if kind == "float":
                return float(text)
            if kind == "bool":
                if text.lower() in ("true", "1", "yes"):
                    return True
                if text.lower() in ("false", "0", "no"):
                    return False
                raise ValueError(text)
        except ValueError:
            raise InvalidInput(f"Input {key!r} is a {kind}; {value!r} is not one.") from None
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Input {key!r} is a {kind}; give a path (or azureml:NAME:VERSION). Got {value!r}.")
    return Input(type=kind or "uri_folder", path=value.strip(), mode=spec.get("mode") or "ro_mount")
