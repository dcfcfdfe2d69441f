"""Unit tests of sensors.spec.DeviceSpec: typed option getters, defaults, ranges, choices, unknown keys."""

from __future__ import annotations

import math
from typing import Any

import pytest

import sensors.spec
from sensors.errors import ConfigError, SensorcastError, UnknownOptions
from sensors.spec import DeviceSpec


def spec(**options: Any) -> DeviceSpec:
    return DeviceSpec("env", "bme280", "sensors[2]", 1.0, False, options)


def test_generic_fields_and_defaults() -> None:
    s = DeviceSpec("env", "bme280", "sensors[0]")
    assert (s.interval_s, s.simulate, dict(s.options)) == (1.0, False, {})
    with pytest.raises(AttributeError):
        s.id = "other"  # type: ignore[misc]  # frozen


def test_error_builds_a_config_error_naming_the_key_path() -> None:
    err = spec().error("address", "something is wrong")
    assert isinstance(err, ConfigError) and isinstance(err, ValueError) and isinstance(err, SensorcastError)
    assert err.key == "sensors[2].address"
    assert err.message == "something is wrong"
    assert str(err) == "sensors[2].address: something is wrong"


# -- required options and defaults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("getter", "default"),
    [
        ("opt_int", 7),
        ("opt_float", 2.5),
        ("opt_str", "x"),
        ("opt_bool", True),
        ("opt_list", [1, 2]),
        ("opt_table", {"a": 1}),
    ],
)
def test_missing_option_returns_default_or_is_required(getter: str, default: Any) -> None:
    s = spec()
    assert getattr(s, getter)("opt", default) == default
    with pytest.raises(ConfigError) as info:
        getattr(s, getter)("opt")
    assert info.value.key == "sensors[2].opt"
    assert info.value.message == "required by driver 'bme280'"


def test_present_option_wins_over_default() -> None:
    s = spec(bus=3, mode="forced", fields=["a"], on=False)
    assert s.opt_int("bus", 1) == 3
    assert s.opt_str("mode", "normal") == "forced"
    assert s.opt_list("fields", ["b"]) == ["a"]
    assert s.opt_bool("on", True) is False


def test_default_goes_through_the_same_checks() -> None:
    """A driver bug (a default outside its own range) surfaces as an error rather than a silent bad value."""
    with pytest.raises(ConfigError) as info:
        spec().opt_int("n", 5, min=0, max=3)
    assert info.value.message == "expected an integer in 0..3, got 5"


# -- opt_int ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, -5, 0x76, 10**12])
def test_opt_int_accepts_ints(value: int) -> None:
    assert spec(n=value).opt_int("n") == value


@pytest.mark.parametrize("value", [True, False, 1.0, 1.5, "3", "0x76", None, [1]])
def test_opt_int_rejects_non_ints_including_bools(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        spec(n=value).opt_int("n")
    assert info.value.key == "sensors[2].n"
    assert info.value.message == f"expected an integer, got {value!r}"


@pytest.mark.parametrize(
    ("kwargs", "value", "expected"),
    [
        ({"min": 0, "max": 3}, 4, "expected an integer in 0..3, got 4"),
        ({"min": 0, "max": 3}, -1, "expected an integer in 0..3, got -1"),
        ({"min": 1}, 0, "expected an integer in 1..inf, got 0"),
        ({"max": 9}, 10, "expected an integer in -inf..9, got 10"),
    ],
)
def test_opt_int_range_errors(kwargs: dict[str, int], value: int, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        spec(n=value).opt_int("n", **kwargs)
    assert info.value.message == expected


def test_opt_int_bounds_are_inclusive() -> None:
    assert spec(n=0).opt_int("n", min=0, max=3) == 0
    assert spec(n=3).opt_int("n", min=0, max=3) == 3


def test_opt_int_address_range_is_shown_in_hex() -> None:
    with pytest.raises(ConfigError) as info:
        spec(address=0x99).opt_int("address", min=0x03, max=0x77)
    assert str(info.value) == "sensors[2].address: expected an integer in 0x03..0x77, got 0x99"


def test_the_module_docstring_example_is_the_real_message() -> None:
    """Regression: the docstring promised ``0x03..0x77, got "0x99"`` but the output was ``0x3..0x77, got 153``."""
    with pytest.raises(ConfigError) as info:
        spec(address=0x99).opt_int("address", min=0x03, max=0x77)
    assert sensors.spec.__doc__ is not None
    assert f"``{info.value}``" in " ".join(sensors.spec.__doc__.split())


# -- opt_float ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), (0, 0.0), (2.5, 2.5), (-1e-3, -1e-3)])
def test_opt_float_accepts_ints_and_floats_and_returns_float(value: float, expected: float) -> None:
    result = spec(x=value).opt_float("x")
    assert result == expected and type(result) is float


@pytest.mark.parametrize("value", [True, "1.5", None, [1.0], {"v": 1}])
def test_opt_float_rejects_non_numbers(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        spec(x=value).opt_float("x")
    assert info.value.key == "sensors[2].x"
    assert info.value.message == f"expected a number, got {value!r}"


def test_opt_float_range() -> None:
    s = spec(x=2.0)
    assert s.opt_float("x", min=2.0, max=2.0) == 2.0
    with pytest.raises(ConfigError) as info:
        s.opt_float("x", min=0.0, max=1.5)
    assert info.value.message == "expected a number in 0.0..1.5, got 2.0"
    for bounds in ({"min": 2.5}, {"max": 1}):
        with pytest.raises(ConfigError) as info:
            s.opt_float("x", **bounds)
        assert info.value.key == "sensors[2].x"
        assert info.value.message.endswith("got 2.0")


@pytest.mark.parametrize(
    ("kwargs", "value", "expected"),
    [
        ({}, math.nan, "expected a number, got nan"),
        ({"min": 0.0, "max": 1.0}, math.nan, "expected a number in 0.0..1.0, got nan"),
        ({"min": 0.001}, math.nan, "expected a number in 0.001..inf, got nan"),
        ({"max": 5}, -math.nan, "expected a number in -inf..5, got nan"),
        ({}, math.inf, "expected a finite number, got inf"),
        ({}, -math.inf, "expected a finite number, got -inf"),
        ({"min": 0.001}, math.inf, "expected a finite number in 0.001..inf, got inf"),
        ({"max": 1.0}, -math.inf, "expected a finite number in -inf..1.0, got -inf"),
        ({"min": 0.0, "max": 1.0}, math.inf, "expected a finite number in 0.0..1.0, got inf"),
        ({"min": -math.inf}, math.inf, "expected a finite number in -inf..inf, got inf"),
        ({}, 10**400, f"expected a finite number, got {10**400!r}"),  # no OverflowError from float()
    ],
)
def test_opt_float_rejects_nan_and_infinities(kwargs: dict[str, float], value: float, expected: str) -> None:
    """Regression: NaN compares false with every bound, so it passed any range (and inf passed one-sided ones)."""
    with pytest.raises(ConfigError) as info:
        spec(x=value).opt_float("x", **kwargs)
    assert (info.value.key, info.value.message) == ("sensors[2].x", expected)


def test_opt_float_accepts_an_infinity_only_when_a_bound_asks_for_it() -> None:
    assert spec(x=math.inf).opt_float("x", min=0.0, max=math.inf) == math.inf
    assert spec(x=-math.inf).opt_float("x", min=-math.inf) == -math.inf
    assert spec(x=1e308).opt_float("x") == 1e308  # large but finite is fine


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"min": 0.001}, "expected a number in 0.001..inf, got 0"),
        ({"max": -1}, "expected a number in -inf..-1, got 0"),
        ({"min": 1, "max": 2.5}, "expected a number in 1..2.5, got 0"),
    ],
)
def test_opt_float_one_sided_range_reads_like_opt_int(kwargs: dict[str, float], expected: str) -> None:
    """Regression: a missing bound was shown as ``None`` (``0.001..None``)."""
    with pytest.raises(ConfigError) as info:
        spec(x=0).opt_float("x", **kwargs)
    assert info.value.message == expected


# -- opt_str ------------------------------------------------------------------------------------------------


def test_opt_str() -> None:
    assert spec(mode="").opt_str("mode") == ""
    with pytest.raises(ConfigError) as info:
        spec(mode=3).opt_str("mode")
    assert info.value.message == "expected a string, got 3"


def test_opt_str_choices() -> None:
    s = spec(mode="fast")
    assert s.opt_str("mode", choices=("slow", "fast")) == "fast"
    with pytest.raises(ConfigError) as info:
        s.opt_str("mode", choices=["low", "high"])
    assert str(info.value) == "sensors[2].mode: expected one of 'low', 'high', got 'fast'"


def test_opt_str_choices_apply_to_the_default() -> None:
    assert spec().opt_str("mode", "low", choices=["low", "high"]) == "low"
    with pytest.raises(ConfigError, match="expected one of"):
        spec().opt_str("mode", "medium", choices=["low", "high"])


# -- opt_bool, opt_list, opt_table --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False])
def test_opt_bool_accepts_bools(value: bool) -> None:
    assert spec(b=value).opt_bool("b") is value


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_opt_bool_rejects_truthy_values(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        spec(b=value).opt_bool("b")
    assert info.value.message == f"expected true or false, got {value!r}"


def test_opt_list() -> None:
    assert spec(items=[]).opt_list("items") == []
    assert spec(items=[{"a": 1}]).opt_list("items") == [{"a": 1}]
    for bad in ((1, 2), "ab", {"a": 1}):
        with pytest.raises(ConfigError) as info:
            spec(items=bad).opt_list("items")
        assert info.value.key == "sensors[2].items"
        assert info.value.message == f"expected a list, got {bad!r}"


def test_opt_table() -> None:
    assert spec(t={"k": 1}).opt_table("t") == {"k": 1}
    assert spec(t={}).opt_table("t") == {}
    for bad in ([("k", 1)], "k=1", 3):
        with pytest.raises(ConfigError) as info:
            spec(t=bad).opt_table("t")
        assert info.value.message == f"expected a table, got {bad!r}"


# -- check_unknown ------------------------------------------------------------------------------------------


def test_check_unknown_passes_when_every_option_is_known() -> None:
    spec(bus=1, address=0x76).check_unknown(["address", "bus", "mode"])
    spec().check_unknown([])


def test_check_unknown_reports_every_unknown_option_with_a_suggestion_and_every_accepted_key() -> None:
    """All unknown options at once, in file order, each with the closest key; the list includes interval_s."""
    known = "address, bus, driver, history, id, interval_s, mode, simulate"
    with pytest.raises(UnknownOptions) as info:
        spec(intervall_s=2, bus=1, adress=0x76, zzz=1).check_unknown(["bus", "address", "mode"])
    assert [(e.key, e.message) for e in info.value.errors] == [
        (
            "sensors[2].intervall_s",
            f"unknown option for driver 'bme280' (did you mean 'interval_s'?); known options: {known}",
        ),
        (
            "sensors[2].adress",
            f"unknown option for driver 'bme280' (did you mean 'address'?); known options: {known}",
        ),
        ("sensors[2].zzz", f"unknown option for driver 'bme280'; known options: {known}"),
    ]
    assert isinstance(info.value, ConfigError) and info.value.key == "sensors[2].intervall_s"
    assert str(info.value).splitlines() == [f"{e.key}: {e.message}" for e in info.value.errors]


def test_check_unknown_without_driver_options_still_lists_the_generic_keys() -> None:
    """A driver that takes no options of its own still names the keys every table accepts."""
    with pytest.raises(UnknownOptions) as info:
        spec(simulated=True).check_unknown([])
    assert info.value.message == (
        "unknown option for driver 'bme280' (did you mean 'simulate'?); known options: driver, history, id, "
        "interval_s, simulate"
    )


def test_config_error_with_file() -> None:
    err = spec().error("bus", "bad").with_file("/etc/sensorcast.toml")
    assert str(err) == "/etc/sensorcast.toml: sensors[2].bus: bad"
    assert err.key == "sensors[2].bus"
