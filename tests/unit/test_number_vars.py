"""Number vars from the inventory are finite: a .nan or .inf threshold would silently switch a check off."""

from __future__ import annotations

import math

import pytest

from rmmctl.checks.base import Thresholds
from rmmctl.errors import ConfigError
from rmmctl.inventory.conn import timeout_value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_threshold_var_must_be_finite(value: float) -> None:
    t = Thresholds({"disk_warn_pct": 85.0})
    with pytest.raises(ConfigError, match=r"^web01: vars.disk_warn_pct must be a finite number, got "):
        t.resolve({"disk_warn_pct": value}, "web01")
    assert t.resolve({"disk_warn_pct": 70}, "web01") == {"disk_warn_pct": 70.0}


@pytest.mark.parametrize(("value", "seconds"), [(10, 10.0), ("2.5", 2.5), (3600, 3600.0), (math.nan, None),
                                                 (math.inf, None), ("inf", None), (1e308, None), (3600.5, None),
                                                 (0, None), (-1, None), (True, None)])
def test_connect_timeout_value_is_finite_and_in_range(value: object, seconds: float | None) -> None:
    assert timeout_value(value) == seconds
