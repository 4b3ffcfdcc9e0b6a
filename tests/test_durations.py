"""The one duration parser, from text (the command's ``--ttl``)."""

from __future__ import annotations

import pytest

from pepperflow import InvalidDuration
from pepperflow._durations import seconds_from_text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2H", 7200.0),
        (" 1d ", 86400.0),
        ("1 h", 3600.0),
    ],
)
def test_a_number_with_or_without_a_unit_is_seconds(text: str, seconds: float) -> None:
    assert seconds_from_text(text, "--ttl") == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0", "--ttl must be positive and at most 100 years"),
        ("-1", "--ttl must be positive"),
        ("101y", "a number with a unit (500ms, 30s, 5m, 2h, 1d), got '101y'"),
        ("1h30m", "got '1h30m'"),
        ("nan", "got 'nan'"),
        ("40000d", "at most 100 years"),
    ],
)
def test_other_text_says_which_forms_it_takes(text: str, says: str) -> None:
    with pytest.raises(InvalidDuration, match=r"^--ttl") as caught:
        seconds_from_text(text, "--ttl")
    assert says in str(caught.value)
