"""Maxim DS18B20 (and DS18S20, DS1822, DS28EA00, MAX31850) on 1-Wire, through the kernel's w1-gpio + w1_therm.

Reference: Maxim DS18B20 datasheet 19-7487 Rev 6 (scratchpad layout, CRC-8 polynomial x^8 + x^5 + x^4 + 1,
power-on value 0x0550 = +85 °C); Linux ``Documentation/w1/slaves/w1_therm.rst`` (``w1_slave``,
``temperature``, ``therm_bulk_read``).

One configured sensor covers every probe on the bus: probes are discovered under
``/sys/bus/w1/devices/<family>-<serial>`` and each becomes a field ``temp_<rom>_c`` (or a name from
``names``). A probe that fails its CRC or vanishes reports ``None`` for that reading; the sensor fails
only when every probe failed. ``w1_slave`` is read by default because it carries the scratchpad and the CRC
verdict, which this driver checks again (the kernel says ``YES`` to the all-zero scratchpad of a shorted
bus).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence

from sensors import buses
from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Value, Values
from sensors.buses import ListDir, PathTest
from sensors.errors import ChecksumError, ImplausibleReading, SensorError
from sensors.spec import DeviceSpec
from sensors.sysfs.files import TextReader, TextWriter, read_text, write_text

THERM_FAMILIES = ("10", "22", "28", "3b", "42")
"""1-Wire family codes handled by w1_therm: DS18S20, DS1822, DS18B20, MAX31850, DS28EA00."""

POWER_ON_MC = 85_000
"""Power-on reset value (+85 °C): the probe lost power or the conversion did not run."""

_ROM_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{12}\Z")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")


def crc8_maxim(data: bytes) -> int:
    """Return the Dallas/Maxim CRC-8 (reflected polynomial 0x8C) of ``data``."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def parse_w1_slave(text: str) -> int:
    """Return the temperature in milli-°C from the two lines of ``w1_slave``.

    Raises:
        ChecksumError: the kernel's CRC verdict is ``NO``, the CRC does not match, or the scratchpad is all
            zero.
        ImplausibleReading: the power-on value 85 °C (conversion did not happen).
        ValueError: the text is not in the kernel's format.
    """
    lines = text.strip().splitlines()
    if len(lines) != 2 or ": crc=" not in lines[0] or "t=" not in lines[1]:
        raise ValueError("not a w1_slave text")
    raw = bytes.fromhex(lines[0].split(":", 1)[0])
    if len(raw) != 9:
        raise ValueError("expected 9 scratchpad bytes")
    if not lines[0].rstrip().endswith("YES"):
        raise ChecksumError("CRC verdict NO")
    if not any(raw):
        raise ChecksumError("all-zero scratchpad (bus shorted or probe missing)")
    if crc8_maxim(raw[:8]) != raw[8]:
        raise ChecksumError("CRC mismatch")
    milli_c = int(lines[1].rsplit("t=", 1)[1])
    if milli_c == POWER_ON_MC and raw[:2] == b"\x50\x05":
        raise ImplausibleReading(errno.EIO, "power-on value 85 °C")
    return milli_c


def field_name(rom: str) -> str:
    """Default field name of a probe: ``temp_28_0316a2799f3c_c``."""
    return f"temp_{rom.replace('-', '_')}_c"


def discover(devices_dir: str, list_dir: ListDir = buses.list_dir) -> list[str]:
    """Return the ROM ids of temperature probes under ``devices_dir``, sorted (none if it cannot be listed)."""
    found = []
    try:
        names = list_dir(devices_dir)
    except OSError:
        return []
    for rom in names:
        if _ROM_RE.match(rom) and rom[:2] in THERM_FAMILIES:
            found.append(rom)
    return sorted(found)


class Ds18b20Bus(Sensor):
    """Every DS18B20-family probe on the 1-Wire bus, as one sensor with a field per probe.

    Args:
        info: catalogue entry (fields in the order of ``roms``, then ``probes_ok``).
        devices_dir: ``<sysfs>/bus/w1/devices``.
        roms: probe ROM ids, e.g. ``28-0316a2799f3c``.
        names: field name per ROM id.
        source: ``w1_slave`` (CRC checked here) or ``temperature`` (kernel >= 5.10, value only).
        reader: sysfs reader.
        writer: sysfs writer (bulk-conversion trigger).
        list_dir: directory listing (probe discovery), exists: path test (the build context's tree).
    """

    bus_id = "w1"

    def __init__(
        self,
        info: SensorInfo,
        devices_dir: str,
        roms: Sequence[str],
        names: dict[str, str],
        *,
        source: str = "w1_slave",
        reader: TextReader = read_text,
        writer: TextWriter = write_text,
        list_dir: ListDir = buses.list_dir,
        exists: PathTest = os.path.exists,
    ) -> None:
        super().__init__(info)
        self.devices_dir = devices_dir
        self.roms = list(roms)
        self.names = names
        self.source = source
        self._read = reader
        self._write = writer
        self._list_dir = list_dir
        self._exists = exists
        self.probe_errors: dict[str, int] = dict.fromkeys(self.roms, 0)

    def _bulk_trigger(self) -> bool:
        # One conversion for all probes (750 ms at 12 bit) instead of one per probe (kernel >= 5.10).
        try:
            names = self._list_dir(self.devices_dir)
        except OSError:
            return False
        for master in (n for n in names if n.startswith("w1_bus_master")):
            path = os.path.join(self.devices_dir, master, "therm_bulk_read")
            if self._exists(path):
                try:
                    self._write(path, "trigger\n")
                except OSError:
                    return False
                return True
        return False

    def open(self) -> None:
        """Check that the bus has at least one of the configured probes.

        Raises:
            SensorError: the bus master is gone (module unloaded) or no configured probe is present.
        """
        present = set(discover(self.devices_dir, self._list_dir))
        if not present & set(self.roms):
            raise SensorError(errno.ENODEV, f"no configured 1-Wire probe under {self.devices_dir}")

    def read_probe(self, rom: str) -> float:
        """Return one probe's temperature in °C.

        Raises:
            OSError: the probe is gone or its read failed (``SensorError`` subclasses included).
            ValueError: the kernel's text is malformed (``ChecksumError`` included).
        """
        path = os.path.join(self.devices_dir, rom, self.source)
        text = self._read(path)
        if self.source == "temperature":
            if not text.strip():  # the kernel returns an empty read when the CRC failed
                raise ChecksumError("empty temperature (CRC failure)")
            milli_c = int(text)
            if milli_c == POWER_ON_MC:
                raise ImplausibleReading(errno.EIO, "power-on value 85 °C")
        else:
            milli_c = parse_w1_slave(text)
        return milli_c / 1000.0

    def read(self) -> Values:
        """Read every probe; a failed probe reports ``None``.

        Raises:
            SensorError: every probe failed.
        """
        self._bulk_trigger()
        values: dict[str, Value] = {}
        ok = 0
        for rom in self.roms:
            try:
                values[self.names[rom]] = self.read_probe(rom)
                ok += 1
            except (OSError, ValueError):
                self.probe_errors[rom] += 1
                values[self.names[rom]] = None
        if ok == 0:
            raise SensorError(errno.EIO, f"none of {len(self.roms)} 1-Wire probes answered")
        values["probes_ok"] = ok
        return values


def build(spec: DeviceSpec, ctx: BuildContext) -> Ds18b20Bus:
    """Build the 1-Wire temperature bus from config.

    Options: ``roms`` (list of ROM ids; default: the probes present when the gateway starts), ``names``
    (table ROM id -> field name), ``source`` (``w1_slave`` or ``temperature``), ``min_c``/``max_c``
    (plausible range, default the DS18B20's -55..125). With ``simulate``, two probes on an emulated tree.
    """
    spec.check_unknown(["roms", "names", "source", "min_c", "max_c"])
    source = spec.opt_str("source", "w1_slave", choices=("w1_slave", "temperature"))
    lo, hi = spec.opt_float("min_c", -55.0), spec.opt_float("max_c", 125.0)
    if spec.simulate:
        ctx.emulated().sysfs(ctx).ensure_ds18b20_demo()
    tree = ctx.files(spec.simulate)
    sysfs_root, reader, writer = tree.sysfs_root, tree.read_text, tree.write_text
    devices_dir = os.path.join(sysfs_root, "bus", "w1", "devices")
    roms = [str(r).lower() for r in spec.opt_list("roms", [])]
    for i, rom in enumerate(roms):
        if not _ROM_RE.match(rom) or rom[:2] not in THERM_FAMILIES:
            raise spec.error(f"roms[{i}]", f"expected a probe id like 28-0316a2799f3c, got {rom!r}")
    if not roms:
        roms = discover(devices_dir, tree.list_dir)
        if not roms:
            # Not a config mistake: the overlay may load after the gateway starts; an OSError makes it
            # retry the build with backoff until the probes appear.
            raise SensorError(
                errno.ENODEV,
                f"no DS18B20 probe found under {devices_dir} (enable dtoverlay=w1-gpio and check wiring and "
                "the 4.7 kΩ pull-up; list roms = [...] to fix the set of fields)",
            )
    names_opt = spec.opt_table("names", {})
    names = {rom: field_name(rom) for rom in roms}
    for rom, name in names_opt.items():
        if rom.lower() not in names:
            raise spec.error(f"names.{rom}", "not one of the probes (roms)")
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == "probes_ok":
            raise spec.error(f"names.{rom}", f"expected a field name of [a-z0-9_], got {name!r}")
        names[rom.lower()] = name
    if len(set(names.values())) != len(names):
        raise spec.error("names", "two probes have the same field name")
    fields = (
        *(FieldSpec(names[r], "°C", "float", "temperature", lo, hi) for r in roms),
        FieldSpec("probes_ok", "", "int", None, 0),
    )
    info = SensorInfo(
        spec.id,
        spec.driver,
        fields,
        spec.interval_s,
        simulated=spec.simulate,
        description=f"{len(roms)} 1-Wire temperature probe(s)",
        model="DS18B20",
    )
    return Ds18b20Bus(
        info,
        devices_dir,
        roms,
        names,
        source=source,
        reader=reader,
        writer=writer,
        list_dir=tree.list_dir,
        exists=tree.exists,
    )
