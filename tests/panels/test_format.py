"""The one number formatter: what a person reads, with every digit on hover."""

from __future__ import annotations

import enum
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from studio_ext.panels._format import (
    format_date,
    format_duration,
    format_id,
    format_number,
    format_value,
    full_text,
    value_html,
)


@pytest.mark.parametrize(("value", "shown"), [
    (-0.044641636506989144, "-0.04464"),
    (0.17023456789012345, "0.1702"),
    (0.5, "0.5"),
    (10000, "10,000"),
    (1234567, "1,234,567"),
    (1e6, "1,000,000"),
    (3.0, "3"),
    (12345.678, "12,350"),
    (1234.5678, "1,235"),
    (999.99, "1000"),
    (0.000012345, "1.234e-05"),
    (0, "0"),
    (0.0, "0"),
    (float("nan"), "NaN"),
    (np.float64(0.123456789), "0.1235"),
    (np.int64(42000), "42,000"),
    (True, "Yes"),
])
def test_numbers_show_about_four_significant_digits_with_separators(value: object, shown: str) -> None:
    assert format_number(value) == shown


def test_ids_are_never_in_exponent_form_nor_separated() -> None:
    assert format_id(1e6) == "1000000"
    assert format_id(np.float64(123456789.0)) == "123456789"
    assert format_id(42) == "42"
    assert format_id(None) == ""


def test_values_read_as_a_person_reads_them_not_as_python_reprs() -> None:
    assert format_value("utf-8") == "utf-8"
    assert format_value(None) == ""
    assert format_value(None, none="—") == "—"
    assert format_value(["a", 0.123456789, None]) == "a, 0.1235, None"
    assert format_value({"alpha": 1.3999999, "l1_ratio": None}) == "alpha=1.4, l1_ratio=None"
    assert format_value(pd.NaT) == ""

    class Colour(enum.Enum):
        RED = "red"

    assert format_value(Colour.RED) == "red"


def test_dates_are_short_and_durations_keep_a_tenth_of_a_second() -> None:
    assert format_date(datetime(2026, 12, 7, 14, 43, 12)) == "2026-12-07 14:43"
    assert format_date(datetime(2026, 12, 7, 14, 43, 12), seconds=True) == "2026-12-07 14:43:12"
    assert format_duration(0.04) == "0.0s"
    assert format_duration(0.44) == "0.4s"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(245) == "4m 05s"
    assert format_duration(3723) == "1h 02m 03s"
    assert format_duration(None) == ""


def test_full_precision_is_kept_on_hover() -> None:
    assert full_text(-0.044641636506989144) == "-0.044641636506989144"
    assert value_html(-0.044641636506989144) == "<span title='-0.044641636506989144'>-0.04464</span>"
    assert value_html(10000) == "10,000", "nothing hidden, no tooltip"
    assert value_html("<b>") == "&lt;b&gt;"
