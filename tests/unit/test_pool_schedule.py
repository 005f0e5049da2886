"""Pool schedules (hostgate/pool_schedule.py) with an injected instant: boundaries, DST changes in named zones."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hostgate.pool_schedule import Rule, Schedule, Sizes, changes, check_schedule, effective, local_text

BASE = Sizes(max_concurrent=4, min_idle=1, max_idle=2)
DAY = Sizes(10, 5, 8)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=zone, fold=fold).timestamp()  # type: ignore[misc]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def office(zone: str = "Europe/Paris") -> Schedule:
    return Schedule(zone, (Rule("mon-fri 08:00-18:00", max_concurrent=10, min_idle=5, max_idle=8),))


def test_a_weekly_window_starts_and_ends_at_its_boundaries_to_the_second() -> None:
    schedule = office()
    friday = (2026, 3, 27)
    assert effective(BASE, schedule, at(PARIS, *friday, 7, 59, 59)) == (BASE, None)
    assert effective(BASE, schedule, at(PARIS, *friday, 8, 0, 0)) == (DAY, 0)
    assert effective(BASE, schedule, at(PARIS, *friday, 17, 59, 59)) == (DAY, 0)
    assert effective(BASE, schedule, at(PARIS, *friday, 18, 0, 0)) == (BASE, None)
    assert effective(BASE, schedule, at(PARIS, 2026, 3, 28, 12, 0)) == (BASE, None)  # Saturday


def test_paris_spring_forward_keeps_the_window_on_local_time() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST. Monday 30 March 08:00 is 06:00 UTC (was 07:00 UTC the week before).
    schedule = office()
    assert effective(BASE, schedule, utc(2026, 3, 30, 5, 59, 59))[1] is None
    assert effective(BASE, schedule, utc(2026, 3, 30, 6, 0, 0)) == (DAY, 0)
    assert effective(BASE, schedule, utc(2026, 3, 27, 6, 30))[1] is None  # CET: 07:30 local
    nxt = changes(BASE, schedule, utc(2026, 3, 27, 20, 0), 2)
    assert [c.at for c in nxt] == [utc(2026, 3, 30, 6, 0), utc(2026, 3, 30, 16, 0)]
    assert local_text(nxt[0].at, "Europe/Paris") == "2026-03-30 08:00 CEST +02:00"


def test_a_boundary_in_the_skipped_hour_takes_effect_when_the_hour_ends() -> None:
    schedule = Schedule("Europe/Paris", (Rule("sun 02:30-05:00", max_concurrent=1, min_idle=0, max_idle=0),))
    # 02:30 does not exist on 2026-03-29; fold=0 reads it with the old offset: 01:30 UTC = 03:30 CEST.
    assert effective(BASE, schedule, utc(2026, 3, 29, 1, 29, 59))[1] is None
    assert effective(BASE, schedule, utc(2026, 3, 29, 1, 30))[1] == 0
    assert effective(BASE, schedule, utc(2026, 3, 29, 2, 59, 59))[1] == 0  # 04:59:59 CEST
    assert effective(BASE, schedule, utc(2026, 3, 29, 3, 0))[1] is None  # 05:00 CEST


def test_a_cron_period_wholly_in_the_skipped_hour_does_not_happen() -> None:
    schedule = Schedule("Europe/Paris", (Rule("0 2 * * *", minutes=60, min_idle=0, max_idle=0),))
    days = [local_text(c.at, "Europe/Paris") for c in changes(BASE, schedule, utc(2026, 3, 27, 12, 0), 6)]
    assert days == [
        "2026-03-28 02:00 CET +01:00",
        "2026-03-28 03:00 CET +01:00",
        "2026-03-30 02:00 CEST +02:00",  # the 29th's 02:00-03:00 did not exist
        "2026-03-30 03:00 CEST +02:00",
        "2026-03-31 02:00 CEST +02:00",
        "2026-03-31 03:00 CEST +02:00",
    ]


def test_paris_fall_back_a_repeated_boundary_is_its_first_occurrence() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET: 02:00-03:00 happens twice.
    schedule = Schedule("Europe/Paris", (Rule("sun 02:30-04:00", max_concurrent=2, min_idle=0, max_idle=1),))
    first = at(PARIS, 2026, 10, 25, 2, 30, fold=0)  # 00:30 UTC, CEST
    assert first == utc(2026, 10, 25, 0, 30)
    assert effective(BASE, schedule, first - 1)[1] is None
    assert effective(BASE, schedule, first)[1] == 0
    assert effective(BASE, schedule, at(PARIS, 2026, 10, 25, 2, 45, fold=1))[1] == 0  # the second 02:45 too
    end = at(PARIS, 2026, 10, 25, 4, 0)  # 03:00 UTC: the period lasted 2.5 real hours
    assert effective(BASE, schedule, end - 1)[1] == 0 and effective(BASE, schedule, end)[1] is None
    assert [c.at for c in changes(BASE, schedule, utc(2026, 10, 24, 12), 2)] == [first, end]


def test_new_york_changes_on_its_own_dates() -> None:
    # US DST starts 2026-03-08 (Paris: 03-29). A 09:00-17:00 window moves from 14:00 UTC to 13:00 UTC.
    schedule = Schedule(
        "America/New_York", (Rule("0 9 * * 1-5", minutes=8 * 60, max_concurrent=6, min_idle=3, max_idle=4),)
    )
    assert effective(BASE, schedule, utc(2026, 3, 6, 14, 0))[1] == 0  # Friday 09:00 EST
    assert effective(BASE, schedule, utc(2026, 3, 6, 13, 59))[1] is None
    assert effective(BASE, schedule, utc(2026, 3, 9, 13, 0))[1] == 0  # Monday 09:00 EDT
    assert effective(BASE, schedule, utc(2026, 3, 9, 12, 59))[1] is None
    nxt = changes(BASE, schedule, utc(2026, 3, 6, 23, 0), 2)
    assert [local_text(c.at, "America/New_York") for c in nxt] == [
        "2026-03-09 09:00 EDT -04:00",
        "2026-03-09 17:00 EDT -04:00",
    ]
    assert nxt[0].sizes == Sizes(6, 3, 4) and nxt[1].sizes == BASE


def test_overnight_windows_and_rule_order() -> None:
    schedule = Schedule(
        "UTC",
        (
            Rule("sat,sun 00:00-24:00", max_concurrent=1, min_idle=0, max_idle=0),
            Rule("daily 22:00-06:00", min_idle=0),
        ),
    )
    assert effective(BASE, schedule, utc(2026, 3, 26, 23, 0)) == (Sizes(4, 0, 2), 1)  # Thursday night
    assert effective(BASE, schedule, utc(2026, 3, 27, 5, 59)) == (Sizes(4, 0, 2), 1)
    assert effective(BASE, schedule, utc(2026, 3, 27, 6, 0)) == (BASE, None)
    assert effective(BASE, schedule, utc(2026, 3, 28, 23, 0)) == (Sizes(1, 0, 0), 0)  # the first rule wins
    # Sunday 24:00 -> the Monday-morning part of Sunday's overnight window.
    assert changes(BASE, schedule, utc(2026, 3, 29, 12), 1)[0].at == utc(2026, 3, 30, 0, 0)


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (Rule("mon-fry 08:00-18:00", min_idle=0), "schedule.rules[0].when", "days are"),
        (Rule("mon 08:00-25:00", min_idle=0), "schedule.rules[0].when", "HH:MM"),
        (Rule("0 8 * *", minutes=60, min_idle=0), "schedule.rules[0].when", "neither"),
        (Rule("0 8 * * *", min_idle=0), "schedule.rules[0].minutes", "minutes"),
        (Rule("*/10 * * * *", minutes=30, min_idle=0), "schedule.rules[0].minutes", "fires every 10"),
        (Rule("mon 08:00-09:00", minutes=5, min_idle=0), "schedule.rules[0].minutes", "cron rules only"),
        (Rule("mon 08:00-09:00"), "schedule.rules[0]", "at least one"),
        (Rule("mon 08:00-09:00", max_concurrent=1), "schedule.rules[0]", "max_idle (2) must not exceed"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(rule: Rule, field: str, words: str) -> None:
    found = check_schedule(Schedule("UTC", (rule,)), BASE)
    assert len(found) == 1 and found[0][0] == field and words in found[0][1], found


def test_an_unknown_zone_is_refused() -> None:
    found = check_schedule(Schedule("Europe/Atlantis", ()), BASE)
    assert found == [("schedule.zone", "'Europe/Atlantis' is not an IANA time zone (e.g. Europe/Paris, UTC)")]
    assert check_schedule(Schedule("../../etc/passwd", ()), BASE)[0][0] == "schedule.zone"
