"""The trigger engine: Azure's triggers on APScheduler's, their checks, DST on an injected clock, the missed-slot policy."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from studio_ext.entities import CronTrigger, RecurrencePattern, RecurrenceTrigger
from studio_ext.errors import InvalidInput
from studio_ext.ml.schedules import build, decide, next_fire_times


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_cron_across_the_spring_dst_change_in_berlin() -> None:
    # 2026-03-29: Berlin's clocks go from 02:00 to 03:00. 02:30 does not exist that day; APScheduler fires
    # at the first moment after the gap's start (01:30 UTC), and at 02:30 CEST (00:30 UTC) from then on.
    times = next_fire_times(CronTrigger(expression="30 2 * * *", time_zone="Europe/Berlin"), 4,
                            after=utc(2026, 3, 27, 12, 0))
    assert [t.astimezone(UTC) for t in times] == [
        utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]
    assert [t.utcoffset() for t in times[2:]] == [timedelta(hours=2)] * 2


def test_daily_recurrence_keeps_its_wall_clock_time_across_the_autumn_change_in_new_york() -> None:
    # 2026-11-01: New York falls back from EDT (UTC-4) to EST (UTC-5); 09:00 stays 09:00 local.
    trigger = RecurrenceTrigger(frequency="day", interval=1, schedule=RecurrencePattern(hours=9, minutes=0),
                                time_zone="Eastern Standard Time")
    times = next_fire_times(trigger, 3, after=utc(2026, 10, 31, 0, 0))
    assert [(t.hour, t.minute) for t in times] == [(9, 0)] * 3
    assert [t.astimezone(UTC).hour for t in times] == [13, 14, 14]


def test_hourly_recurrence_is_elapsed_time_across_the_gap() -> None:
    trigger = RecurrenceTrigger(frequency="hour", interval=1, start_time="2026-03-29T00:30:00",
                                time_zone="Europe/Berlin")
    times = next_fire_times(trigger, 4, after=utc(2026, 3, 28, 23, 0))
    instants = [t.astimezone(UTC) for t in times]  # (same-zone datetimes subtract as wall-clock times)
    assert {b - a for a, b in zip(instants, instants[1:], strict=False)} == {timedelta(hours=1)}
    assert [t.strftime("%H:%M%z") for t in times] == ["00:30+0100", "01:30+0100", "03:30+0200", "04:30+0200"]


def test_every_other_week_on_two_days_counts_weeks_from_the_start() -> None:
    trigger = RecurrenceTrigger(frequency="week", interval=2, start_time="2026-03-02T00:00:00",
                                schedule=RecurrencePattern(hours=[9], minutes=[0], week_days=["monday", "friday"]))
    times = next_fire_times(trigger, 4, after=utc(2026, 3, 28, 12, 0))
    assert [t.date().isoformat() for t in times] == ["2026-03-30", "2026-04-03", "2026-04-13", "2026-04-17"]
    # The trigger goes into APScheduler's job store pickled
    assert str(pickle.loads(pickle.dumps(build(trigger)))).startswith("every 2 weeks")


def test_cron_day_of_week_is_crons_not_apschedulers() -> None:
    # cron's 1-5 is Monday to Friday (APScheduler 3 alone would read it as Tuesday to Saturday)
    times = next_fire_times(CronTrigger(expression="0 9 * * 1-5"), 5, after=utc(2026, 12, 5, 12))  # a Saturday
    assert [t.strftime("%a") for t in times] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert next_fire_times(CronTrigger(expression="0 9 * * 0"), 1, after=utc(2026, 12, 5, 12))[0].strftime("%a") == "Sun"


def test_six_fields_are_seconds_first() -> None:
    times = next_fire_times(CronTrigger(expression="*/2 * * * * *"), 3, after=utc(2026, 1, 1, 0, 0, 1))
    assert [t.second for t in times] == [2, 4, 6]


@pytest.mark.parametrize(("expression", "says"), [
    ("61 * * * *", "its minutes field '61' is wrong"),
    ("0 25 * * *", "its hours field '25' is wrong"),
    ("0 0 32 * *", "its day-of-month field '32' is wrong"),
    ("0 0 * 13 *", "its month field '13' is wrong"),
    ("0 9 * * 8", "its day-of-week field '8' is wrong"),
    ("0 9 * *", "has 4 fields; it takes five"),
    ("", "has no expression"),
])
def test_a_cron_expression_that_does_not_parse_says_which_field(expression: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        next_fire_times(CronTrigger(expression=expression))
    assert says in caught.value.message


def test_bad_recurrences_and_times_are_refused() -> None:
    with pytest.raises(InvalidInput, match="interval must be a whole number of minutes, at least 1. Got 0"):
        build(RecurrenceTrigger(frequency="minute", interval=0))
    with pytest.raises(InvalidInput, match="frequency must be one of minute, hour, day, week, month"):
        build(RecurrenceTrigger(frequency="fortnight", interval=1))
    with pytest.raises(InvalidInput, match="is not after its start_time"):
        build(CronTrigger(expression="* * * * *", start_time="2026-01-02T00:00:00", end_time="2026-01-01T00:00:00"))
    with pytest.raises(InvalidInput, match="no time zone this studio knows"):
        build(CronTrigger(expression="* * * * *", time_zone="Mars/Olympus"))
    with pytest.raises(InvalidInput, match="applies to day, week and month"):
        build(RecurrenceTrigger(frequency="hour", interval=1, schedule=RecurrencePattern(hours=[1], minutes=[0])))


def test_end_time_stops_the_fire_times() -> None:
    trigger = CronTrigger(expression="0 * * * *", start_time="2026-01-01T00:00:00", end_time="2026-01-01T02:30:00")
    assert len(next_fire_times(trigger, 10, after=utc(2026, 1, 1))) == 3


def test_missed_slots_policy() -> None:
    now = utc(2026, 1, 1, 12, 0)
    slots = [now - timedelta(minutes=m) for m in (20, 10, 4, 2, 1)]
    decided = decide(slots, now, grace=300)
    assert [d for _, d, _ in decided] == ["skipped", "skipped", "folded", "folded", "fire"]
    assert "over the grace period of 300 s" in decided[0][2]
    assert decide([now - timedelta(seconds=0.2)], now, grace=300) == [(now - timedelta(seconds=0.2), "fire", "")]
