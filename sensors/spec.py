"""A sensor or actuator entry from the config, with typed option getters that produce precise errors.

Drivers read their options only through these getters, so every mistake names the config key and what was
expected (``sensors[2].address: expected an integer in 0x03..0x77, got 0x99``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sensors.errors import ConfigError, UnknownOptions

T = TypeVar("T")
_MISSING: Any = object()

GENERIC_KEYS: tuple[str, ...] = ("id", "driver", "interval_s", "simulate", "history")
"""Keys every ``[[sensors]]``/``[[actuators]]`` table accepts, whatever its driver (parsed by the config)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the known key closest to the unknown ``name``, or "" when none is
    close (difflib's similarity ratio below 0.6)."""
    import difflib  # only on a config mistake: a running gateway need not carry it

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One ``[[sensors]]`` or ``[[actuators]]`` table after the generic keys were parsed.

    Attributes:
        id: unique id (``[a-z0-9_-]``), used in topics and on the wire.
        driver: driver name from the registry.
        key: config key path of this entry, e.g. ``sensors[2]``, for error messages.
        interval_s: poll interval in seconds (0 for push/streaming sources); unused for actuators.
        simulate: build on emulators instead of hardware.
        options: the remaining, driver-specific keys.
        min_interval_s: actuators only: the configured shortest time between two changes (None: the driver's
            default, see ``gateway.protocol.actuation``).
    """

    id: str
    driver: str
    key: str
    interval_s: float = 1.0
    simulate: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    min_interval_s: float | None = None

    # -- typed getters -------------------------------------------------------------------------------------------

    def _get(self, name: str, default: Any) -> Any:
        if name in self.options:
            return self.options[name]
        if default is _MISSING:
            raise ConfigError(f"{self.key}.{name}", f"required by driver {self.driver!r}")
        return default

    def error(self, name: str, message: str) -> ConfigError:
        """Build a :class:`ConfigError` for option ``name`` of this entry."""
        return ConfigError(f"{self.key}.{name}", message)

    def opt_int(
        self, name: str, default: int = _MISSING, *, min: int | None = None, max: int | None = None
    ) -> int:
        """Return option ``name`` as an int in [min, max]; TOML hex literals (0x76) are ints already."""
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {value!r}")
        if (min is not None and value < min) or (max is not None and value > max):
            show = (lambda v: f"{v:#04x}") if name == "address" else str  # I2C addresses read as 0x76
            raise self.error(name, f"expected an integer in {_span(min, max, show)}, got {show(value)}")
        return value

    def opt_float(
        self, name: str, default: float = _MISSING, *, min: float | None = None, max: float | None = None
    ) -> float:
        """Return option ``name`` as a float in [min, max] (ints accepted).

        NaN is always refused (it compares false with every bound, so it would slip through any range). The
        infinities are refused too unless the caller asked for them with an infinite bound (``max=math.inf``):
        a missing bound means "any finite number".
        """
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"expected a number, got {value!r}")
        span = "" if min is None and max is None else f" in {_span(min, max, repr)}"
        try:
            number = float(value)
        except OverflowError:  # an int beyond the float range (TOML ints are not bounded by tomllib)
            raise self.error(name, f"expected a finite number{span}, got {value!r}") from None
        if math.isnan(number):
            raise self.error(name, f"expected a number{span}, got nan")
        if math.isinf(number) and number not in (min, max):
            raise self.error(name, f"expected a finite number{span}, got {value!r}")
        if (min is not None and number < min) or (max is not None and number > max):
            raise self.error(name, f"expected a number{span}, got {value!r}")
        return number

    def opt_str(self, name: str, default: str = _MISSING, *, choices: Sequence[str] | None = None) -> str:
        """Return option ``name`` as a string, optionally one of ``choices``."""
        value = self._get(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(name, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    def opt_bool(self, name: str, default: bool = _MISSING) -> bool:
        """Return option ``name`` as a bool (TOML true/false only)."""
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {value!r}")
        return value

    def opt_list(self, name: str, default: list[Any] = _MISSING) -> list[Any]:
        """Return option ``name`` as a list."""
        value = self._get(name, default)
        if not isinstance(value, list):
            raise self.error(name, f"expected a list, got {value!r}")
        return value

    def opt_table(self, name: str, default: Mapping[str, Any] = _MISSING) -> Mapping[str, Any]:
        """Return option ``name`` as a table (mapping)."""
        value = self._get(name, default)
        if not isinstance(value, Mapping):
            raise self.error(name, f"expected a table, got {value!r}")
        return value

    def check_unknown(self, known: Sequence[str]) -> None:
        """Raise for every option not in ``known`` at once (typos such as ``adress``, ``intervall_s``), each with
        the closest known key, and the full list of keys this table accepts (``known`` plus
        :data:`GENERIC_KEYS`).

        Raises:
            UnknownOptions: one :class:`ConfigError` per unknown option, in file order.
        """
        accepted = sorted({*known, *GENERIC_KEYS})
        errors = [
            self.error(
                name,
                f"unknown option for driver {self.driver!r}{did_you_mean(name, accepted)}; "
                f"known options: {', '.join(accepted)}",
            )
            for name in self.options
            if name not in known
        ]
        if errors:
            raise UnknownOptions(errors)


def _span(lo: float | None, hi: float | None, show: Callable[[Any], str]) -> str:
    """``lo..hi`` for range errors; a missing bound reads ``-inf`` / ``inf``."""
    return f"{'-inf' if lo is None else show(lo)}..{'inf' if hi is None else show(hi)}"
