"""When a schedule fires: Azure's triggers as APScheduler triggers, checked, and the next fire times.

Pure: no storage, no clock of its own (every function takes ``now``/``after`` or defaults to
the current time), so a schedule form can show :func:`next_fire_times` as the user types and
tests can walk across a daylight-saving change. APScheduler's triggers do the calendar and
time-zone arithmetic (``zoneinfo``), daylight-saving changes included:

- ``CronTrigger(expression)``: Azure's five NCronTab fields ``MINUTES HOURS DAYS MONTHS
  DAYS-OF-WEEK`` (0 or 7 is Sunday, as cron has it; APScheduler 3 counts from Monday, so the
  day-of-week field is translated), or six with a leading seconds field;
- ``RecurrenceTrigger`` of ``minute``/``hour``: every ``interval`` minutes or hours of elapsed
  time from ``start_time`` (from the schedule's creation when it has none, so the first fire is
  one interval after it);
- of ``day``/``week``/``month``: wall-clock times in the time zone (``schedule``'s hours and
  minutes, else ``start_time``'s time of day; its week day for ``week``, its day of the month
  for ``month``), on every ``interval``-th day, week or month counted from the start.

:func:`decide` is the policy for slots the supervisor reaches late (see its docstring).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger as ApsCronTrigger
from apscheduler.triggers.interval import IntervalTrigger as ApsIntervalTrigger

from studio_ext.entities._schedule import CronTrigger, RecurrencePattern, RecurrenceTrigger
from studio_ext.errors import InvalidInput

__all__ = ["FREQUENCIES", "WEEK_DAYS", "EveryNth", "build", "check", "decide", "grace_seconds", "next_fire_times",
           "parse_time", "time_zone"]

FREQUENCIES = ("minute", "hour", "day", "week", "month")
WEEK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
CRON_LABELS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "day-of-month", "month": "month",
               "day_of_week": "day-of-week"}
CRON_FORM = "MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK (as in '0 2 * * 1-5': at 02:00 on weekdays)"
_CRON_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# Missed slots older than this are skipped rather than run (see decide()).
DEFAULT_GRACE_SECONDS = 300.0
GRACE_ENV = "STUDIO_EXT_SCHEDULE_GRACE_SECONDS"


def grace_seconds() -> float:
    """The grace period for late slots: ``$STUDIO_EXT_SCHEDULE_GRACE_SECONDS``, else 300 s."""
    try:
        return max(0.0, float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_SECONDS)))
    except ValueError:
        return DEFAULT_GRACE_SECONDS


# -- time zones and times -------------------------------------------------------------------------
def time_zone(name: Any) -> tzinfo:
    """The time zone of a trigger: Azure's Windows name (``"W. Europe Standard Time"``) or an IANA name."""
    text = str(getattr(name, "value", name) or "UTC").strip()
    if text.upper() in ("UTC", "Z", "ETC/UTC", "COORDINATED UNIVERSAL TIME"):
        return UTC
    from tzlocal.windows_tz import win_tz

    iana = win_tz.get(text, text)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"The trigger's time_zone {text!r} is no time zone this studio knows. Give Azure's name (as "
            f"azure.ai.ml.constants.TimeZone has them: 'UTC', 'W. Europe Standard Time', 'Eastern Standard Time') "
            f"or an IANA name ('Europe/Berlin').") from None


def parse_time(value: str | datetime | None, tz: tzinfo, what: str = "start_time") -> datetime | None:
    """A trigger's start or end time as an aware datetime; a time without an offset is in ``tz``, as on Azure."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace(" ", "T").replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"The trigger's {what} {value!r} is not a time. Write it as YYYY-MM-DDThh:mm:ss "
                               "(in the trigger's time_zone).") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


# -- building triggers ---------------------------------------------------------------------------
def build(trigger: CronTrigger | RecurrenceTrigger, *, anchor: datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger for an Azure trigger, after checking it (InvalidInput says what is wrong).

    ``anchor``: when the schedule was made; a recurrence without ``start_time`` counts from it.
    """
    tz = time_zone(trigger.time_zone)
    start = parse_time(trigger.start_time, tz, "start_time")
    end = parse_time(trigger.end_time, tz, "end_time")
    if start is not None and end is not None and end <= start:
        raise InvalidInput(f"The trigger's end_time ({end.isoformat()}) is not after its start_time "
                           f"({start.isoformat()}): the schedule would never fire. Give an end_time after the start.")
    if isinstance(trigger, CronTrigger):
        return _cron(trigger.expression, tz, start, end)
    if isinstance(trigger, RecurrenceTrigger):
        base = start or (anchor or datetime.now(UTC)).replace(microsecond=0)
        return _recurrence(trigger, tz, base.astimezone(tz), start, end)
    raise InvalidInput(f"A schedule's trigger is a CronTrigger or a RecurrenceTrigger. Got {type(trigger).__name__}.")


def check(trigger: CronTrigger | RecurrenceTrigger) -> None:
    """Raise InvalidInput if ``trigger`` cannot fire (bad expression, interval, times or time zone)."""
    build(trigger)


def _cron(expression: Any, tz: tzinfo, start: datetime | None, end: datetime | None) -> BaseTrigger:
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput(f"The cron trigger has no expression. Give five fields: {CRON_FORM}.")
    parts = expression.split()
    if len(parts) not in (5, 6):
        raise InvalidInput(f"The cron expression {expression!r} has {len(parts)} fields; it takes five: {CRON_FORM} "
                           "(or six, with seconds first).")
    names = (("second",) if len(parts) == 6 else ()) + CRON_FIELDS
    values = dict(zip(names, parts, strict=True))
    values["day_of_week"] = _cron_days(expression, values["day_of_week"])
    for name, value in values.items():
        try:
            ApsCronTrigger(**{name: value}, timezone=tz)
        except ValueError as exc:
            raise InvalidInput(f"The cron expression {expression!r} does not parse: its {CRON_LABELS[name]} field "
                               f"{parts[names.index(name)]!r} is wrong ({exc}). The fields are {CRON_FORM}.") from None
    if len(parts) == 5:
        values["second"] = "0"
    return ApsCronTrigger(**values, start_date=start, end_date=end, timezone=tz)


def _cron_days(expression: str, field_text: str) -> str:
    """Cron's day-of-week field (0 or 7 = Sunday) as APScheduler 3's (0 = Monday), spelled out."""
    if field_text in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field_text.lower().split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body in ("*", "?"):
                low, high = 0, 6
            elif "-" in body:
                first, last = body.split("-", 1)
                low, high = _cron_day(first), _cron_day(last)
            else:
                low = high = _cron_day(body)
                if step_text:
                    high = 6
            if step < 1 or low > high:
                raise ValueError
        except ValueError:
            raise InvalidInput(
                f"The cron expression {expression!r} does not parse: its day-of-week field {field_text!r} is wrong "
                f"(the part {part!r}). Days are 0-7 (0 and 7 are Sunday) or sun, mon ... sat; ranges as 1-5, steps "
                f"as */2. The fields are {CRON_FORM}.") from None
        days.update(d % 7 for d in range(low, high + 1, step))
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return ",".join(names[(d - 1) % 7] for d in sorted(days))


def _cron_day(text: str) -> int:
    text = text.strip()
    if text[:3] in _CRON_DAYS and text.isalpha():
        return _CRON_DAYS[text[:3]]
    day = int(text)
    if not 0 <= day <= 7:
        raise ValueError(text)
    return day


def _as_list(value: Any, what: str, low: int, high: int) -> list[int]:
    items = [] if value is None else value if isinstance(value, (list, tuple)) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            raise InvalidInput(f"The recurrence pattern's {what} must be whole numbers from {low} to {high}. "
                               f"Got {item!r}.")
        out.append(item)
    return sorted(set(out))


def _recurrence(trigger: RecurrenceTrigger, tz: tzinfo, base: datetime, start: datetime | None,
                end: datetime | None) -> BaseTrigger:
    frequency = str(getattr(trigger.frequency, "value", trigger.frequency) or "").lower()
    if frequency not in FREQUENCIES:
        raise InvalidInput(f"The recurrence's frequency must be one of {', '.join(FREQUENCIES)}. "
                           f"Got {trigger.frequency!r}.")
    interval = trigger.interval
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise InvalidInput(f"The recurrence's interval must be a whole number of {frequency}s, at least 1. "
                           f"Got {interval!r}.")
    pattern = trigger.schedule or RecurrencePattern()
    hours = _as_list(pattern.hours, "hours", 0, 23)
    minutes = _as_list(pattern.minutes, "minutes", 0, 59)
    week_days = pattern.week_days or []
    week_days = [week_days] if isinstance(week_days, str) else list(week_days)
    bad = [d for d in week_days if str(d).lower() not in WEEK_DAYS]
    if bad:
        raise InvalidInput(f"The recurrence pattern's week_days are {', '.join(WEEK_DAYS)}. Got {bad[0]!r}.")
    month_days = _as_list(pattern.month_days, "month_days", 1, 31)
    if frequency in ("minute", "hour"):
        if hours or minutes or week_days or month_days:
            raise InvalidInput(f"A recurrence pattern (hours, minutes, week_days, month_days) applies to day, week "
                               f"and month frequencies; a {frequency} recurrence fires every {interval} "
                               f"{frequency}(s) from its start_time. Leave schedule out, or use frequency='day'.")
        every = {"minutes": interval} if frequency == "minute" else {"hours": interval}
        return ApsIntervalTrigger(**every, start_date=base, end_date=end, timezone=tz)
    if month_days and frequency != "month":
        raise InvalidInput(f"month_days apply to a month recurrence; this one is every {interval} {frequency}(s). "
                           "Use frequency='month', or week_days for days of the week.")
    if (hours and not minutes) or (minutes and not hours):
        raise InvalidInput("A recurrence pattern needs both hours and minutes (as RecurrencePattern(hours=[9], "
                           "minutes=[0]) for 09:00). Got only " + ("hours." if hours else "minutes."))
    fields: dict[str, str] = {
        "hour": ",".join(map(str, hours)) if hours else str(base.hour),
        "minute": ",".join(map(str, minutes)) if minutes else str(base.minute),
        "second": "0" if hours else str(base.second),
    }
    if week_days:
        fields["day_of_week"] = ",".join(str(d).lower()[:3] for d in week_days)
    elif frequency == "week":
        fields["day_of_week"] = WEEK_DAYS[base.weekday()][:3]
    if frequency == "month":
        fields["day"] = ",".join(map(str, month_days)) if month_days else str(base.day)
    cron = ApsCronTrigger(**fields, start_date=start, end_date=end, timezone=tz)
    return cron if interval == 1 else EveryNth(cron, frequency, interval, base.date())


class EveryNth(BaseTrigger):  # APScheduler 3 ships no type hints: BaseTrigger is Any here
    """A wall-clock trigger kept on every ``interval``-th day, week or month counted from ``anchor``.

    Its fire times are the inner cron trigger's (time zones and daylight-saving changes as
    APScheduler has them); the periods between are left out. Picklable, for the job store.
    """

    def __init__(self, inner: ApsCronTrigger, unit: str, interval: int, anchor: date) -> None:
        self.inner, self.unit, self.interval, self.anchor = inner, unit, interval, anchor

    def _kept(self, moment: datetime) -> bool:
        day = moment.date()
        if self.unit == "day":
            periods = (day - self.anchor).days
        elif self.unit == "week":
            periods = ((day - timedelta(days=day.weekday())) - (self.anchor - timedelta(days=self.anchor.weekday()))
                       ).days // 7
        else:
            periods = (day.year * 12 + day.month) - (self.anchor.year * 12 + self.anchor.month)
        return periods >= 0 and periods % self.interval == 0

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        moment = self.inner.get_next_fire_time(previous_fire_time, now)
        for _ in range(10_000):
            if moment is None or self._kept(moment):
                return moment
            moment = self.inner.get_next_fire_time(moment, moment)
        return None

    def __str__(self) -> str:
        return f"every {self.interval} {self.unit}s of {self.inner}"


# -- what a form shows, and what the supervisor decides -------------------------------------------
def next_fire_times(trigger: CronTrigger | RecurrenceTrigger, n: int = 5, *, after: datetime | None = None,
                    anchor: datetime | None = None) -> list[datetime]:
    """The next ``n`` fire times of ``trigger`` from ``after`` (now by default), in the trigger's time zone.

    Raises InvalidInput when the trigger cannot fire, saying what is wrong, so a form can show
    either the times or the message. Example::

        next_fire_times(CronTrigger(expression="30 2 * * *", time_zone="Europe/Berlin"), 3)
    """
    built = build(trigger, anchor=anchor or after)
    now = (after or datetime.now(UTC))
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    tz = time_zone(trigger.time_zone)
    times: list[datetime] = []
    previous: datetime | None = None
    moment = built.get_next_fire_time(None, now)
    while moment is not None and len(times) < n:
        if previous is None or moment > previous:
            times.append(moment.astimezone(tz))
            previous = moment
        moment = built.get_next_fire_time(moment, moment)
    return times


def decide(slots: Sequence[datetime], now: datetime, grace: float) -> list[tuple[datetime, str, str]]:
    """What to do with the slots a schedule reached and has not decided yet: ``(slot, decision, message)``.

    The policy: a slot more than ``grace`` seconds late (the supervisor was not running at its
    time) is ``skipped``; of the slots within the grace period only the latest one is ``fire``d,
    the earlier ones are ``folded`` into it, so a supervisor back after a pause runs a schedule
    once, not once per missed slot. A slot on time is simply fired.
    """
    ordered = sorted(slots)
    recent = [s for s in ordered if (now - s).total_seconds() <= grace]
    out: list[tuple[datetime, str, str]] = []
    for slot in ordered:
        late = (now - slot).total_seconds()
        if slot not in recent:
            out.append((slot, "skipped", f"missed: nothing ran it at its time ({late:.0f} s late, over the grace "
                                         f"period of {grace:.0f} s), so it is skipped"))
        elif slot != recent[-1]:
            out.append((slot, "folded", f"missed ({late:.0f} s late, within the grace period of {grace:.0f} s): "
                                        f"one run at {recent[-1].isoformat()} stands for it"))
        else:
            out.append((slot, "fire", "" if late < 60 else f"run {late:.0f} s late, within the grace period"))
    return out
