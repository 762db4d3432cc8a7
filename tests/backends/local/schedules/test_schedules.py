"""ws.schedules on the local backend: create, read, enable, disable, delete; bad input stores nothing;
azure-ai-ml's JobSchedule taken; real fires by the supervisor's duty, tagged; a disabled schedule never fires;
the missed-slot policy on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.ai.ml import command as azure_command
from azure.ai.ml.entities import CronTrigger as AzureCronTrigger
from azure.ai.ml.entities import JobSchedule as AzureJobSchedule
from azure.ai.ml.entities import RecurrencePattern as AzureRecurrencePattern
from azure.ai.ml.entities import RecurrenceTrigger as AzureRecurrenceTrigger
from azure.ai.ml.entities._load_functions import load_schedule

from studio_ext import command
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.schedules.duty import SchedulesDuty
from studio_ext.entities import CommandJob, CronTrigger, Data, JobSchedule, RecurrencePattern, RecurrenceTrigger
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.workspace import Workspace
from tests.helpers import wait_until

NEVER_SOON = "0 0 1 1 *"  # once a year: a schedule that does not fire during the tests


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace) -> Workspace:
    return module_workspace


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hello.py").write_text("print('hello from a schedule')\n")
    return tmp_path / "src"


@pytest.fixture
def clean(ws: Workspace) -> Iterator[None]:
    yield
    for schedule in ws.schedules.list(list_view_type="all"):
        ws.schedules.begin_delete(schedule.name).result()


def _job(src: Path) -> CommandJob:
    return command(code=str(src), command="python hello.py", experiment_name="scheduled")


def test_create_read_disable_enable_delete(ws: Workspace, src: Path, clean: None) -> None:
    trigger = RecurrenceTrigger(frequency="day", interval=1, schedule=RecurrencePattern(hours=[9], minutes=[30]),
                                time_zone="W. Europe Standard Time")
    made = ws.schedules.begin_create_or_update(JobSchedule(
        name="daily", trigger=trigger, create_job=_job(src), display_name="Daily hello", tags={"team": "a"})).result()
    assert made.is_enabled and made.provisioning_state == "Succeeded"
    assert len(made.next_fire_times) == 5 and all((t.hour, t.minute) == (9, 30) for t in made.next_fire_times)
    assert str(made.next_fire_times[0].tzinfo) == "Europe/Berlin"
    assert isinstance(made.create_job, CommandJob) and made.create_job.command == "python hello.py"
    # the code folder is copied into the workspace: the schedule runs what it was given
    assert (LocalBackend.of(ws).path / "schedules" / "daily" / "code" / "hello.py").is_file()
    assert [s.name for s in ws.schedules.list()] == ["daily"]

    off = ws.schedules.begin_disable("daily").result()
    assert not off.is_enabled and off.next_fire_times == []
    assert ws.schedules.list() == [] and [s.name for s in ws.schedules.list(list_view_type="disabled_only")] == ["daily"]
    assert ws.schedules.begin_enable("daily").result().is_enabled

    # its YAML is Azure's: azure-ai-ml's own loader reads it
    loaded = load_schedule(_write(src.parent / "daily.yml", ws.schedules.to_yaml(ws.schedules.get("daily"))))
    assert isinstance(loaded.trigger, AzureRecurrenceTrigger) and loaded.trigger.schedule.hours == [9]

    assert ws.schedules.begin_delete("daily").result() == "daily"
    with pytest.raises(NotFound, match="There is no schedule named 'daily'"):
        ws.schedules.get("daily")
    assert not (LocalBackend.of(ws).path / "schedules" / "daily").exists()


def _write(path: Path, text: str) -> Path:
    data = yaml.safe_load(text)
    data["create_job"] = "azureml:some_job"  # azure-ai-ml's loader takes a job file or a reference, not inline
    path.write_text(yaml.safe_dump(data))
    return path


def _pipeline(compute: str | None = None) -> Any:
    from studio_ext.entities import CommandComponent, Output, PipelineJob, PipelineJobSettings

    write = CommandComponent(name="write", command="echo data > ${{outputs.out}}/x.txt",
                             outputs={"out": Output(type="uri_folder")})
    return PipelineJob(jobs={"prep": write()}, experiment_name="scheduled-pipeline",
                       settings=PipelineJobSettings(default_compute=compute))


def _bad_pipeline() -> Any:
    from studio_ext import Input
    from studio_ext.entities import CommandComponent, PipelineJob

    read = CommandComponent(name="read", command="cat ${{inputs.data}}/x.txt", inputs={"data": Input(type="uri_folder")})
    return PipelineJob(jobs={"use": read(data="${{parent.jobs.nowhere.outputs.out}}")})


def _bad_sweep(src: Path) -> Any:
    from studio_ext.sweep import Choice, SweepJob, SweepJobLimits

    return SweepJob(trial=command(code=str(src), command="python hello.py --q ${{search_space.q}}"),
                    search_space={"q": Choice([1, 2])}, limits=SweepJobLimits(max_total_trials=2))


@pytest.mark.parametrize(("schedule", "says"), [
    (lambda src: JobSchedule(name="bad-cron", trigger=CronTrigger(expression="0 24 * * *"), create_job=_job(src)),
     "its hours field '24' is wrong"),
    (lambda src: JobSchedule(name="bad-times", trigger=CronTrigger(
        expression="0 1 * * *", start_time="2030-01-02T00:00:00", end_time="2030-01-01T00:00:00"), create_job=_job(src)),
     "is not after its start_time"),
    (lambda src: JobSchedule(name="bad-interval", trigger=RecurrenceTrigger(frequency="hour", interval=0),
                             create_job=_job(src)), "interval must be a whole number of hours, at least 1. Got 0"),
    (lambda src: JobSchedule(name="ended", trigger=CronTrigger(expression="0 1 * * *", end_time="2020-01-01T00:00:00"),
                             create_job=_job(src)), "would never fire"),
    (lambda src: JobSchedule(name="no-script", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job=command(code=str(src), command="python missing.py")),
     "The script 'missing.py' does not exist"),
    (lambda src: JobSchedule(name="no-compute", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job=command(code=str(src), command="python hello.py", compute="gpu-cluster")),
     "There is no compute target named 'gpu-cluster'"),
    (lambda src: JobSchedule(name="no-job", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job="azureml:no_such_job"), "which does not exist"),
    (lambda src: JobSchedule(name="bad-pipeline", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job=_bad_pipeline()), "no step 'nowhere'"),
    (lambda src: JobSchedule(name="bad-pipeline-compute", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job=_pipeline(compute="gpu-cluster")), "no compute target named 'gpu-cluster'"),
    (lambda src: JobSchedule(name="bad-sweep", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job=_bad_sweep(src)), "The sweep has no objective"),
    (lambda src: JobSchedule(name="a-data", trigger=CronTrigger(expression=NEVER_SOON),
                             create_job=Data(name="d", path=str(src))),
     "BatchEndpointInvocation(endpoint_name=...) to invoke a batch endpoint"),
])
def test_bad_input_is_refused_and_nothing_is_stored(ws: Workspace, src: Path, schedule: object, says: str) -> None:
    with pytest.raises((InvalidInput, NotFound)) as caught:
        ws.schedules.begin_create_or_update(schedule(src))  # type: ignore[operator]
    assert says in caught.value.message
    assert ws.schedules.list(list_view_type="all") == []
    assert not (LocalBackend.of(ws).path / "schedules").exists() or \
        not any(p.name.startswith("bad") for p in (LocalBackend.of(ws).path / "schedules").iterdir())


def test_azure_ai_ml_job_schedule_is_taken(ws: Workspace, src: Path, clean: None) -> None:
    job = azure_command(code=str(src), command="python hello.py", environment="AzureML-sklearn-1.5@latest")
    cron = AzureJobSchedule(name="azure-cron", trigger=AzureCronTrigger(expression="15 4 * * 1-5", time_zone="UTC"),
                            create_job=job)
    made = ws.begin_create_or_update(cron).result()  # MLClient's verb chooses ws.schedules by the type
    assert isinstance(made.trigger, CronTrigger) and made.trigger.expression == "15 4 * * 1-5"
    assert {t.strftime("%a %H:%M") for t in made.next_fire_times} <= {
        f"{d} 04:15" for d in ("Mon", "Tue", "Wed", "Thu", "Fri")}
    recurrence = AzureJobSchedule(name="azure-weekly", trigger=AzureRecurrenceTrigger(
        frequency="week", interval=1, schedule=AzureRecurrencePattern(hours=8, minutes=0, week_days=["saturday"]),
        time_zone="Eastern Standard Time"), create_job=job)
    weekly = ws.schedules.begin_create_or_update(recurrence).result()
    assert {t.strftime("%a %H:%M") for t in weekly.next_fire_times} == {"Sat 08:00"}
    assert weekly.create_job.environment == "AzureML-sklearn-1.5@latest"


@pytest.mark.slow
def test_a_schedule_fires_tagged_jobs_and_a_disabled_one_never_fires(ws: Workspace, src: Path, clean: None) -> None:
    every_two = CronTrigger(expression="*/2 * * * * *")
    ws.schedules.begin_create_or_update(JobSchedule(name="off", trigger=every_two, create_job=_job(src),
                                                    is_enabled=False)).result()
    ws.schedules.begin_create_or_update(JobSchedule(name="tick", trigger=every_two, create_job=_job(src))).result()
    fired = wait_until(lambda: [f for f in ws.schedules.history("tick") if f.decision == "fired"][1:] and
                       [f for f in ws.schedules.history("tick") if f.decision == "fired"],
                       timeout=90, what=lambda: f"two fires of 'tick': {ws.schedules.history('tick')}")
    for fire in fired:
        job = ws.jobs.get(fire.job_name)
        assert job.tags["schedule_name"] == "tick"
        assert job.tags["schedule_fire_time"] == fire.slot.isoformat()
        assert job.name == f"tick-{fire.slot:%Y%m%dT%H%M%SZ}"
    ws.schedules.begin_disable("tick").result()
    decided = len(ws.schedules.history("tick"))
    jobs = [j for j in ws.jobs.list() if j.tags.get("schedule_name") == "tick"]
    wait_until(lambda: ws.jobs.get(fired[0].job_name).status.value == "Completed", timeout=60, what="a fired job ends")
    import time

    time.sleep(4)  # two more slots of a schedule that is now disabled
    assert len(ws.schedules.history("tick")) == decided
    assert len([j for j in ws.jobs.list() if j.tags.get("schedule_name") == "tick"]) == len(jobs)
    assert ws.schedules.history("off") == []
    assert not [j for j in ws.jobs.list() if j.tags.get("schedule_name") == "off"]


def test_missed_slots_follow_the_grace_policy_on_an_injected_clock(ws: Workspace, src: Path, clean: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    made = ws.schedules.begin_create_or_update(JobSchedule(
        name="missed", trigger=CronTrigger(expression=NEVER_SOON), create_job=_job(src))).result()
    assert made.creation_time is not None
    start = made.creation_time.replace(microsecond=0) + timedelta(seconds=2)
    slots = [start + timedelta(minutes=m) for m in range(0, 12)]  # twelve minutes of slots nobody ran
    clock = slots[-1] + timedelta(seconds=30)
    monkeypatch.setenv("STUDIO_EXT_SCHEDULE_GRACE_SECONDS", "200")
    duty = SchedulesDuty(LocalBackend.of(ws))
    revision = None  # any revision: this calls the duty directly
    decided = dict(duty.reached("missed", revision, slots, at=clock))
    assert [decided[s] for s in slots] == ["skipped"] * 9 + ["folded"] * 2 + ["fired"]
    history = {f.slot: f for f in ws.schedules.history("missed", limit=100)}
    assert set(history) == set(slots) and all(f.message for f in history.values())
    assert "over the grace period of 200 s" in history[slots[0]].message
    assert history[slots[-1]].job_name == f"missed-{slots[-1]:%Y%m%dT%H%M%SZ}"
    # the same slots reached again (a restart) are not decided twice
    assert duty.reached("missed", revision, slots[-3:], at=clock) == []
    assert len([j for j in ws.jobs.list() if j.tags.get("schedule_name") == "missed"]) == 1
    assert datetime.now(UTC) > made.creation_time


@pytest.mark.slow
def test_a_pipeline_job_is_scheduled_too(ws: Workspace, clean: None) -> None:
    from studio_ext import Input
    from studio_ext.entities import CommandComponent, Output, PipelineJob

    write = CommandComponent(name="write", command="echo data > ${{outputs.out}}/x.txt",
                             outputs={"out": Output(type="uri_folder")})
    read = CommandComponent(name="read", command="cat ${{inputs.data}}/x.txt", inputs={"data": Input(type="uri_folder")})
    pipeline = PipelineJob(jobs={"prep": write(), "use": read(data="${{parent.jobs.prep.outputs.out}}")},
                           experiment_name="scheduled-pipeline")
    made = ws.schedules.begin_create_or_update(JobSchedule(
        name="pipe", trigger=CronTrigger(expression="*/2 * * * * *"), create_job=pipeline)).result()
    assert isinstance(made.create_job, PipelineJob) and set(made.create_job.jobs) == {"prep", "use"}
    fired = wait_until(lambda: [f for f in ws.schedules.history("pipe") if f.decision == "fired"], timeout=90,
                       what=lambda: f"a fire of 'pipe': {ws.schedules.history('pipe')}")
    ws.schedules.begin_disable("pipe").result()
    job = wait_until(lambda: (j := ws.jobs.get(fired[-1].job_name)).status.is_terminal and j, timeout=120,
                     what="the scheduled pipeline to end")
    assert isinstance(job, PipelineJob) and job.status.value == "Completed", job
    assert job.tags["schedule_name"] == "pipe" and len(job.children) == 2


@pytest.mark.slow
def test_a_schedule_on_an_existing_pipeline_by_name_runs_the_pipeline_again(ws: Workspace, clean: None) -> None:
    from studio_ext.entities import PipelineJob

    first = ws.jobs.create_or_update(_pipeline())
    wait_until(lambda: ws.jobs.get(first.name).status.is_terminal, timeout=120, what="the first pipeline to end")
    ws.schedules.begin_create_or_update(JobSchedule(
        name="again", trigger=CronTrigger(expression="*/2 * * * * *"), create_job=f"azureml:{first.name}")).result()
    fired = wait_until(lambda: [f for f in ws.schedules.history("again") if f.decision == "fired"], timeout=90,
                       what=lambda: f"a fire of 'again': {ws.schedules.history('again')}")
    ws.schedules.begin_disable("again").result()
    job = wait_until(lambda: (j := ws.jobs.get(fired[0].job_name)).status.is_terminal and j, timeout=120,
                     what="the scheduled pipeline to end")
    assert isinstance(job, PipelineJob) and job.status.value == "Completed", job
    assert job.tags["schedule_name"] == "again" and job.tags["resubmitted_from"] == first.name
    assert set(job.jobs) == {"prep"} and len(job.children) == 1
