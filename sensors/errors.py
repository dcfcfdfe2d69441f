"""Error hierarchy shared by every sensorcast package.

Every error derives from :class:`SensorcastError` and also from the builtin that describes it best, so callers
can catch either (the gpiozero habit: ``SPIBadChannel(SPIError, ValueError)``).
"""

from __future__ import annotations


class SensorcastError(Exception):
    """Base class of every error sensorcast raises on purpose."""


class ConfigError(SensorcastError, ValueError):
    """A configuration value is missing or wrong.

    Args:
        key: dotted key path of the offending value, e.g. ``sensors[2].address``.
        message: what was expected, phrased for a user editing the file.
        file: path of the config file, when known.
    """

    def __init__(self, key: str, message: str, file: str | None = None) -> None:
        self.key = key
        self.message = message
        self.file = file
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.message}"

    def with_file(self, file: str) -> ConfigError:
        """Return a copy of this error that names ``file``."""
        return ConfigError(self.key, self.message, file)


class UnknownOptions(ConfigError):
    """Several unknown options of one device table, all reported at once; ``errors`` lists each of them."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__(errors[0].key, errors[0].message, errors[0].file)

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


class SensorError(SensorcastError, OSError):
    """A sensor could not be read (bus error, bad checksum, device gone)."""


class SensorTimeout(SensorError, TimeoutError):
    """A sensor read did not finish within its timeout."""


class ImplausibleReading(SensorError, ValueError):
    """The chip answered, but with a value it cannot mean (e.g. a BME280 'skipped' pattern).

    Such readings are flagged and never published as data.
    """


class ChecksumError(SensorError, ValueError):
    """A frame or word failed its CRC / checksum."""


class CommandError(SensorcastError, ValueError):
    """An actuator command was refused (unknown target, value out of range, not allowed)."""
