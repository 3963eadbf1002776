"""Day counting as the Civil Code counts it (民法典 第二百零一条: the starting day is not counted)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def within_days(start: date, days: int, day: date) -> bool:
    """"Within N days of D" means on or before D+N."""
    return day <= start + timedelta(days=days)


def after_full_days(start: date, days: int) -> date:
    """"From N days after D" (满N日后) means from D+N+1: paid 03-01, waits 03-02..05-30, 05-31."""
    return start + timedelta(days=days + 1)


def first_of_next_month(day: date) -> date:
    """A December payment gives 1 January of the next year."""
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def rest_of_year(day: date, year: int) -> tuple[date, date]:
    """The days of coverage year `year` from `day` on (all of it, for a day before it begins): what
    cover held elsewhere must not overlap for an enrollment on `day` (不得重复参保)."""
    return max(day, date(year, 1, 1)), date(year, 12, 31)


def end_of_february(year: int) -> date:
    """Computed, never written down: 2024-02-29 in a leap year."""
    return date(year, 2, calendar.monthrange(year, 2)[1])


def china_date(moment: datetime) -> date:
    """The calendar day in China of an instant: a payment at 23:30 +08:00 counts on that day."""
    if moment.tzinfo == CHINA:  # already China time (as most effective times are stored): its own date
        return moment.date()  # four times faster than converting; a rebuild asks millions of times
    return moment.astimezone(CHINA).date()


def at_china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


def now() -> datetime:
    return datetime.now(timezone.utc)


def first_of_month_after(day: date, months: int) -> date:
    """The 1st of the month `months` after `day`'s month: January and 3 gives 1 April."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def after_full_months(start: date, months: int) -> date:
    """The day after a period of `months` months from `start` ends. 民法典 第二百零二条: a period
    counted in months ends on the corresponding day of its last month, or on that month's last day
    when it has none; the period of 3 months from 15 January ends on 15 April, benefits from 16
    April; from 30 November, it ends on 28 (or 29) February."""
    index = start.year * 12 + start.month - 1 + months
    year, month = index // 12, index % 12 + 1
    last = date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
    return last + timedelta(days=1)
