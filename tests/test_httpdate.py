"""The one Retry-After reading: delta-seconds and HTTP-dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autoposter.httpdate import retry_after

NOW = datetime(2026, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2026 07:00:00 GMT", 0.0),  # already past
        ("", None),
        (None, None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_delta_seconds_and_http_dates(value: str | None, expected: float | None) -> None:
    assert retry_after(value, now=NOW) == expected


def test_an_http_date_is_measured_from_the_server_clock_when_it_says() -> None:
    value = "Wed, 21 Oct 2026 07:28:00 GMT"
    assert retry_after(value, date="Wed, 21 Oct 2026 07:27:50 GMT", now=NOW) == 10.0
    assert retry_after(value, date="garbage", now=NOW) == 60.0
