"""Bar charts drawn on the server as inline SVG (the content-security policy allows no
inline style, so a bar's size is an SVG attribute). Each chart also comes as a table."""

from __future__ import annotations

from dataclasses import dataclass

from renkei.usecases.planner import DayPicture

WIDTH = 24 * 26
HEIGHT = 160


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    label: str  # the hour, UTC, as HH:00
    batch: int
    realtime: int  # the day's average per hour gone by (0 for hours to come)
    batch_y: float
    batch_height: float
    realtime_y: float
    realtime_height: float


@dataclass(frozen=True)
class QuotaChart:
    width: int
    height: int
    bars: list[Bar]
    budget_y: float | None  # the line of the budget's hourly pace
    budget_per_hour: int | None


def quota_chart(picture: DayPicture) -> QuotaChart:
    """Calls per hour of the vendor day, batch under realtime, against the budget's pace
    (the day's budget spread evenly over 24 hours)."""
    realtime = round(picture.realtime_per_hour)
    budget = picture.budget_per_hour
    per_hour = [(hour, realtime if hour.elapsed else 0) for hour in picture.hours]
    top = max([1.0, budget or 0.0, *(hour.batch + rt for hour, rt in per_hour)]) * 1.1
    step = WIDTH / len(per_hour)
    bars = []
    for index, (hour, rt) in enumerate(per_hour):
        batch_height = hour.batch / top * HEIGHT
        realtime_height = rt / top * HEIGHT
        bars.append(
            Bar(
                x=index * step + 2,
                width=step - 4,
                label=hour.start.strftime("%H:00"),
                batch=hour.batch,
                realtime=rt,
                batch_y=HEIGHT - batch_height,
                batch_height=batch_height,
                realtime_y=HEIGHT - batch_height - realtime_height,
                realtime_height=realtime_height,
            )
        )
    budget_y = None if budget is None else HEIGHT - budget / top * HEIGHT
    return QuotaChart(WIDTH, HEIGHT, bars, budget_y, None if budget is None else round(budget))
