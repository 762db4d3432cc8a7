"""``studio-ext schedule create | list | show | enable | disable | delete | history``, as ``az ml schedule``."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import add_file_arguments, add_output_argument, output_of, overrides, show


def register(sub: argparse._SubParsersAction) -> None:
    group = action_group(sub, "schedule", "job schedules (recurrence and cron triggers)")

    p = group.add_parser("create", help="create or update a schedule from an Azure ML v2 schedule YAML file")
    add_file_arguments(p)
    p.add_argument("-n", "--name")
    p.set_defaults(func=_create)

    p = group.add_parser("list", help="schedules with their state and next fire time")
    p.add_argument("--all", action="store_true", dest="show_all", help="disabled ones too")
    p.set_defaults(func=_list)

    p = group.add_parser("show", help="a schedule, its next five fire times and its last fires")
    p.add_argument("name")
    add_output_argument(p)
    p.set_defaults(func=_show)

    for action, text in (("enable", "enable a schedule (it fires from its next slot on)"),
                         ("disable", "disable a schedule (no later slot fires)"),
                         ("delete", "delete a schedule and its history (its jobs stay)")):
        p = group.add_parser(action, help=text)
        p.add_argument("name")
        p.set_defaults(func=_change, action=action)

    p = group.add_parser("history", help="every slot the schedule reached: fired, failed, skipped or folded")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_history)


def _create(args: argparse.Namespace) -> int:
    from studio_ext.cli_groups._files import register_requires
    from studio_ext.translation import schedule as schedule_translation

    ws = open_workspace(args)
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    result = schedule_translation.from_yaml(args.file, params_override=overrides(args, name=args.name))
    for note in result.notes:
        print(f"note: {note}")
    register_requires(ws, result)
    schedule = ws.schedules.begin_create_or_update(result.entity).result()
    print(f"Schedule {schedule.name} created ({'enabled' if schedule.is_enabled else 'disabled'}). Next fire times:")
    for moment in schedule.next_fire_times:
        print(f"  {moment.isoformat()}")
    return 0


def _row(schedule: Any) -> dict[str, object]:
    trigger = schedule.trigger
    what = (f"cron {trigger.expression}" if trigger.type == "cron"
            else f"every {trigger.interval} {trigger.frequency}")
    job = getattr(schedule, "create_job", None)
    if getattr(schedule, "type", None) == "monitor":  # a MonitorSchedule: what it watches
        monitor = schedule.create_monitor
        target = monitor.monitoring_target if monitor is not None else None
        job = f"monitor {(target.endpoint_deployment_id if target else None) or schedule.data_drift_monitor}"
    elif not isinstance(job, str):
        job = f"{getattr(job, 'type', 'no')} job"
    upcoming = schedule.next_fire_times[0].isoformat() if schedule.next_fire_times else "-"
    return {"name": schedule.name, "enabled": schedule.is_enabled, "trigger": what, "time_zone": trigger.time_zone,
            "next fire": upcoming, "runs": job}


def _list(args: argparse.Namespace) -> int:
    schedules = open_workspace(args).schedules.list(list_view_type="all" if args.show_all else "enabled_only")
    print_table([_row(s) for s in schedules], ["name", "enabled", "trigger", "time_zone", "next fire", "runs"])
    return 0


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    schedule = ws.schedules.get(args.name)
    history = ws.schedules.history(args.name, limit=5)
    info = {**_row(schedule), "display_name": schedule.display_name, "description": schedule.description,
            "next_fire_times": [m.isoformat() for m in schedule.next_fire_times],
            "last_fires": [f"{f.slot.isoformat()} {f.decision} {f.job_name or ''} {f.message}".rstrip()
                           for f in history],
            "tags": schedule.tags}
    show(schedule, info, output_of(args), ws.schedules.to_yaml)
    return 0


def _change(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    if args.action == "delete":
        ws.schedules.begin_delete(args.name).result()
        print(f"Schedule {args.name} deleted")
        return 0
    verb = ws.schedules.begin_enable if args.action == "enable" else ws.schedules.begin_disable
    schedule = verb(args.name).result()
    print(f"Schedule {schedule.name} {'enabled' if schedule.is_enabled else 'disabled'}")
    return 0


def _history(args: argparse.Namespace) -> int:
    fires = open_workspace(args).schedules.history(args.name, limit=args.limit)
    print_table([{"slot": f.slot.isoformat(), "decision": f.decision, "job": f.job_name or "-",
                  "message": f.message} for f in fires], ["slot", "decision", "job", "message"])
    return 0
