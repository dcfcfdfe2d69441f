"""Emulators keep bounded records of what they were told: the demo runs for weeks (issue 20)."""

from __future__ import annotations

from sensors.base import SensorInfo
from sensors.i2c.bh1750 import FIELDS, BH1750Sensor
from sensors.sim.history import COMMAND_HISTORY, BoundedList
from sensors.sim.i2c.bh1750 import BH1750Chip
from sensors.sim.smbus import FakeSMBus


def test_a_bounded_list_keeps_the_newest_items_and_stays_a_list() -> None:
    """Appending 1..9 to [0] with limit 3 forgets the oldest 3 whenever it holds 6: [6, 7, 8, 9] remain;
    slicing and == work as on a list."""
    items: BoundedList[int] = BoundedList([0], limit=3)
    lengths = []
    for i in range(1, 10):
        items.append(i)
        lengths.append(len(items))
    assert lengths == [2, 3, 4, 5, 3, 4, 5, 3, 4]
    assert items == [6, 7, 8, 9]
    assert items[-2:] == [8, 9] and isinstance(items, list)
    assert BoundedList().limit == COMMAND_HISTORY


def test_the_bh1750_emulator_remembers_a_bounded_number_of_opcodes() -> None:
    """10 000 one-time reads (30 004 opcodes) leave fewer than 2 x COMMAND_HISTORY opcodes, the newest last."""
    bus = FakeSMBus(1)
    chip = BH1750Chip(clock=lambda: 10.0)
    bus.attach(0x23, chip)
    info = SensorInfo("lux", "bh1750", FIELDS, 1.0, simulated=True, model="BH1750")
    sensor = BH1750Sensor(info, bus, 0x23, "i2c-1", sleep=lambda _s: None, resolution="high2", mtreg=100)
    sensor.open()
    for _ in range(10_000):
        sensor.read()
    assert COMMAND_HISTORY <= len(chip.opcodes) < 2 * COMMAND_HISTORY
    assert chip.opcodes[-6:] == [0x43, 0x64, 0x21] * 2  # MTreg high, MTreg low, one-time high-res 2
