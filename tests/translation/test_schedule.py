"""Job schedules: studio_ext JobSchedule <-> v2 schedule YAML <-> azure-ai-ml JobSchedule, each form of create_job."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.ml import command as azure_command
from azure.ai.ml.constants import TimeZone
from azure.ai.ml.entities import CronTrigger as AzureCronTrigger
from azure.ai.ml.entities import JobSchedule as AzureJobSchedule
from azure.ai.ml.entities import RecurrencePattern as AzureRecurrencePattern
from azure.ai.ml.entities import RecurrenceTrigger as AzureRecurrenceTrigger
from azure.ai.ml.entities._load_functions import load_schedule

from studio_ext import command, translation
from studio_ext.entities import CommandJob, CronTrigger, JobSchedule, RecurrencePattern, RecurrenceTrigger
from studio_ext.errors import InvalidInput
from studio_ext.translation import schedule

SCHEMA = "$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json\n"
JOB = """$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
command: python hello.py
code: ./src
environment: azureml:AzureML-sklearn-1.5@latest
experiment_name: nightly
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hello.py").write_text("print('hi')\n")
    (tmp_path / "job.yml").write_text(JOB)
    return tmp_path


def _file(folder: Path, text: str) -> Path:
    path = folder / "schedule.yml"
    path.write_text(SCHEMA + text)
    return path


RECURRENCE = """name: daily
display_name: Daily run
trigger:
  type: recurrence
  frequency: day
  interval: 1
  schedule:
    hours: [4, 16]
    minutes: [0, 30]
  start_time: "2026-07-10T10:00:00"
  time_zone: Pacific Standard Time
"""


def test_a_job_file_is_read_by_azures_loader(folder: Path) -> None:
    path = _file(folder, RECURRENCE + "create_job: ./job.yml\n")
    assert isinstance(load_schedule(path), AzureJobSchedule)  # Azure takes the file as it is
    made = translation.from_yaml(path).entity
    assert isinstance(made, JobSchedule) and made.name == "daily" and made.display_name == "Daily run"
    assert made.trigger == RecurrenceTrigger(frequency="day", interval=1, start_time="2026-07-10T10:00:00",
                                             time_zone="Pacific Standard Time",
                                             schedule=RecurrencePattern(hours=[4, 16], minutes=[0, 30]))
    job = made.create_job
    assert isinstance(job, CommandJob) and job.command == "python hello.py"
    assert job.code == str(folder / "src") and job.experiment_name == "nightly"


def test_a_job_reference_and_a_job_file_with_changes(folder: Path) -> None:
    cron = "name: hourly\ntrigger:\n  type: cron\n  expression: '0 * * * *'\n  time_zone: UTC\n"
    by_name = translation.from_yaml(_file(folder, cron + "create_job: azureml:earlier_job\n")).entity
    assert by_name.create_job == "azureml:earlier_job" and by_name.trigger == CronTrigger(expression="0 * * * *")
    changed = _file(folder, cron + "create_job:\n  job: ./job.yml\n  type: command\n  experiment_name: other\n"
                                   "  environment_variables:\n    MODE: fast\n")
    assert isinstance(load_schedule(changed), AzureJobSchedule)
    job = translation.from_yaml(changed).entity.create_job
    assert job.experiment_name == "other" and job.environment_variables == {"MODE": "fast"}
    assert job.command == "python hello.py"


def test_an_inline_job_as_azure_ai_ml_dumps_it(folder: Path) -> None:
    inline = ("name: inline\ntrigger:\n  type: cron\n  expression: '*/5 * * * *'\ncreate_job:\n  type: command\n"
              "  command: python hello.py\n  code: ./src\n  environment: azureml:AzureML-sklearn-1.5@latest\n")
    made = translation.from_yaml(_file(folder, inline)).entity
    assert made.create_job.code == str(folder / "src")
    with pytest.raises(InvalidInput, match="expression"):  # the schedule's own fields still go through Azure
        translation.from_yaml(_file(folder, inline.replace("  expression: '*/5 * * * *'\n", "")))


def test_round_trip_through_azure_ai_ml(folder: Path) -> None:
    ours = JobSchedule(
        name="weekly", description="every other Monday",
        trigger=RecurrenceTrigger(frequency="week", interval=2, time_zone="W. Europe Standard Time",
                                  schedule=RecurrencePattern(hours=[9], minutes=[0], week_days=["monday"])),
        create_job=command(code=str(folder / "src"), command="python hello.py", environment="AzureML-sklearn-1.5@latest"),
        tags={"team": "ml"})
    azure = translation.to_azure(ours)
    assert isinstance(azure, AzureJobSchedule) and isinstance(azure.trigger, AzureRecurrenceTrigger)
    assert azure.trigger.schedule.week_days == ["monday"] and azure.create_job.command == "python hello.py"
    back = translation.from_azure_any(azure).entity
    assert back.trigger == ours.trigger and back.tags == {"team": "ml"} and back.description == ours.description
    assert back.create_job.command == "python hello.py" and back.create_job.code == str(folder / "src")
    assert translation.to_v2(ours)["trigger"]["schedule"] == {"hours": [9], "minutes": [0], "week_days": ["monday"]}


def test_azure_objects_are_accepted_as_ws_schedules_takes_them(folder: Path) -> None:
    azure = AzureJobSchedule(
        name="cron", trigger=AzureCronTrigger(expression="0 3 * * *", time_zone=TimeZone.EASTERN_STANDARD_TIME,
                                              start_time="2026-01-01T00:00:00"),
        create_job=azure_command(code=str(folder / "src"), command="python hello.py",
                                 environment="AzureML-sklearn-1.5@latest"))
    accepted = translation.accept(azure, JobSchedule, "ws.schedules.begin_create_or_update").entity
    assert accepted.trigger == CronTrigger(expression="0 3 * * *", time_zone="Eastern Standard Time",
                                           start_time="2026-01-01T00:00:00")
    recurrence = AzureJobSchedule(name="r", create_job="azureml:some_job", trigger=AzureRecurrenceTrigger(
        frequency="month", interval=1, schedule=AzureRecurrencePattern(hours=1, minutes=15, month_days=[1, 15])))
    taken = translation.from_azure_any(recurrence).entity
    assert taken.create_job == "azureml:some_job"
    assert taken.trigger.schedule == RecurrencePattern(hours=[1], minutes=[15], month_days=[1, 15])


def test_other_schedule_kinds_are_refused_by_name(folder: Path) -> None:
    imports = "name: imp\ntrigger:\n  type: cron\n  expression: '0 0 * * *'\nimport_data: {type: mltable}\n"
    with pytest.raises(InvalidInput, match="ImportDataSchedule: a data import schedule .* is not built here"):
        schedule.from_v2(_yaml(imports))
    with pytest.raises(InvalidInput, match="trigger has type 'recurrence' or 'cron'"):
        schedule.from_v2(_yaml("name: x\ntrigger: {type: daily}\ncreate_job: azureml:j\n"))


def _yaml(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


def test_to_yaml_of_a_schedule_with_a_job_reference_loads_in_azure(tmp_path: Path) -> None:
    ours = JobSchedule(name="again", trigger=CronTrigger(expression="0 6 * * 1", end_time="2027-01-01T00:00:00"),
                       create_job="azureml:earlier_job")
    path = tmp_path / "again.yml"
    path.write_text(translation.to_yaml(ours))
    loaded = load_schedule(path)
    assert isinstance(loaded.trigger, AzureCronTrigger) and loaded.create_job == "earlier_job"  # Azure's loader strips azureml:
    assert str(loaded.trigger.end_time).startswith("2027-01-01")
