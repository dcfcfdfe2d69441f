"""A fake SMBus: the ``smbus2.SMBus`` method set on emulated chips, with a write log and fault injection.

Chips attach at an address and see I2C *transactions*: a write of some bytes, or a read of ``n`` bytes. Every
SMBus call is translated into the transactions the Linux i2c-dev driver would put on the wire
(``read_byte_data(a, r)`` = write ``[r]`` + repeated-start read 1), so a driver that works here talks to a
real chip the same way. Register-based chips derive from :class:`RegisterChip` (pointer + auto-increment).

Faults, injected per address (or on the whole bus), model what a Raspberry Pi really reports:

* NACK: ``OSError(121, "Remote I/O error")`` (EREMOTEIO; i2c-bcm2835 maps a NACK to it),
* EIO: ``OSError(5)``, e.g. arbitration lost or a timeout in the controller,
* a stuck bus: every call blocks until :meth:`FakeSMBus.release` (SDA held low by a confused slave),
* a chip that disappears (NACKs everything) and comes back power-cycled (registers at reset values),
* garbage: a read returns random bytes instead of the chip's answer.
"""

from __future__ import annotations

import ctypes
import errno
import os
import random
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

FaultKind = Literal["nack", "eio", "garbage"]

#: Entries kept in the write/read log; the demo runs for days, so the log is a ring.
DEFAULT_LOG_LIMIT = 4096

I2C_M_RD = 0x0001


class Chip(Protocol):
    """What the fake bus needs from an emulated chip."""

    def write(self, data: bytes) -> None:
        """Receive one write transaction (after the address byte)."""

    def read(self, length: int) -> bytes:
        """Answer one read transaction of ``length`` bytes."""

    def reset(self) -> None:
        """Return to power-on state (the chip was unplugged and came back)."""


class RegisterChip:
    """A chip with an 8-bit register pointer and auto-increment, the common I2C register-file pattern.

    A write sets the pointer to its first byte and stores the remaining bytes at successive registers; a read
    returns registers from the pointer on, advancing it. Subclasses hook :meth:`on_write` (a register was
    written) and :meth:`on_read` (a read starts at ``reg``: refresh sampled values here).

    Args:
        defaults: power-on register values (register -> byte); everything else reads 0.
    """

    def __init__(self, defaults: dict[int, int] | None = None) -> None:
        self._defaults = dict(defaults or {})
        self.regs = bytearray(256)
        self.pointer = 0
        self.reset()

    def reset(self) -> None:
        """Restore power-on register values and pointer 0."""
        self.regs = bytearray(256)
        for reg, value in self._defaults.items():
            self.regs[reg] = value
        self.pointer = 0

    def write(self, data: bytes) -> None:
        """Set the pointer from ``data[0]`` and store any further bytes with auto-increment."""
        if not data:
            return
        self.pointer = data[0]
        for value in data[1:]:
            reg = self.pointer
            if self.writable(reg):
                self.regs[reg] = value
            self.on_write(reg, value)
            self.pointer = (self.pointer + 1) & 0xFF

    def read(self, length: int) -> bytes:
        """Return ``length`` registers from the pointer on, advancing it."""
        self.on_read(self.pointer)
        out = bytearray()
        for _ in range(length):
            out.append(self.regs[self.pointer])
            self.pointer = (self.pointer + 1) & 0xFF
        return bytes(out)

    def writable(self, reg: int) -> bool:
        """Return whether a write to ``reg`` is stored (read-only registers ignore writes)."""
        return True

    def on_write(self, reg: int, value: int) -> None:
        """Hook: ``value`` was written to ``reg``."""

    def on_read(self, reg: int) -> None:
        """Hook: a read transaction starts at ``reg``."""

    def set_be16(self, reg: int, value: int) -> None:
        """Store a big-endian 16-bit value at ``reg``, ``reg + 1``."""
        self.regs[reg] = (value >> 8) & 0xFF
        self.regs[(reg + 1) & 0xFF] = value & 0xFF

    def get_be16(self, reg: int) -> int:
        """Return the big-endian 16-bit value at ``reg``, ``reg + 1``."""
        return (self.regs[reg] << 8) | self.regs[(reg + 1) & 0xFF]


class WordRegisterChip:
    """A chip with an 8-bit pointer to 16-bit big-endian registers (TI ADS1x15, INA219, ...).

    A write sets the pointer; two more bytes write that register (MSB first). A read returns the pointed
    register MSB first, without auto-increment (further bytes read 0xFF, as the bus pulls SDA high).
    Subclasses hook :meth:`on_write` and :meth:`on_read`.

    Args:
        defaults: power-on register values (register -> 16-bit value).
        pointer_mask: implemented pointer bits (the ADS1x15 decodes only P[1:0]).
    """

    def __init__(self, defaults: dict[int, int] | None = None, pointer_mask: int = 0xFF) -> None:
        self._defaults = dict(defaults or {})
        self.pointer_mask = pointer_mask
        self.regs: dict[int, int] = {}
        self.pointer = 0
        self.reset()

    def reset(self) -> None:
        """Restore power-on register values and pointer 0."""
        self.regs = dict(self._defaults)
        self.pointer = 0

    def write(self, data: bytes) -> None:
        """Set the pointer; with two more bytes, write the 16-bit register."""
        if not data:
            return
        self.pointer = data[0] & self.pointer_mask
        if len(data) >= 3:
            value = (data[1] << 8) | data[2]
            if self.writable(self.pointer):
                self.regs[self.pointer] = value
            self.on_write(self.pointer, value)

    def read(self, length: int) -> bytes:
        """Return the pointed register MSB first."""
        self.on_read(self.pointer)
        value = self.regs.get(self.pointer, 0)
        return (bytes([(value >> 8) & 0xFF, value & 0xFF]) + b"\xff" * length)[:length]

    def writable(self, reg: int) -> bool:
        """Return whether a write to ``reg`` is stored."""
        return True

    def on_write(self, reg: int, value: int) -> None:
        """Hook: ``value`` was written to ``reg``."""

    def on_read(self, reg: int) -> None:
        """Hook: a read of ``reg`` starts."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One transaction seen on the bus: ``op`` is ``"w"`` (bytes written) or ``"r"`` (bytes read back)."""

    op: Literal["w", "r"]
    addr: int
    data: bytes


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int | None  # None: forever


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FakeSMBus:
    """An in-memory I2C bus with the ``smbus2.SMBus`` methods drivers use.

    Thread-safe: calls are serialised by a lock, like the kernel serialises transfers on one adapter.

    Args:
        bus: bus number (for messages only).
        log_limit: transactions kept in :attr:`log`.
        rng: random source for garbage and random faults (seed it in tests).
    """

    def __init__(
        self, bus: int = 1, log_limit: int = DEFAULT_LOG_LIMIT, rng: random.Random | None = None
    ) -> None:
        self.bus = bus
        self.chips: dict[int, Chip] = {}
        self.log: deque[LogEntry] = deque(maxlen=log_limit)
        self.calls = 0
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self._faults: dict[int | None, deque[_Fault]] = {}
        self._rates: dict[int | None, tuple[float, int]] = {}
        self._absent: dict[int, Chip] = {}

    # -- wiring

    def attach(self, address: int, chip: Chip) -> Chip:
        """Connect ``chip`` at 7-bit ``address`` and return it."""
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"7-bit I2C address expected in 0x03..0x77, got {address:#x}")
        self.chips[address] = chip
        return chip

    def disappear(self, address: int) -> None:
        """Unplug the chip at ``address``: it NACKs every transfer until :meth:`reappear`."""
        chip = self.chips.pop(address)
        self._absent[address] = chip

    def reappear(self, address: int) -> None:
        """Plug the chip back in; it comes back power-cycled (registers at reset values)."""
        chip = self._absent.pop(address)
        chip.reset()
        self.chips[address] = chip

    # -- fault injection

    def inject(self, kind: FaultKind, address: int | None = None, count: int | None = 1) -> None:
        """Make the next ``count`` calls to ``address`` (None: any) fail with ``kind``; count None: always."""
        self._faults.setdefault(address, deque()).append(_Fault(kind, count))

    def error_rate(self, probability: float, address: int | None = None, code: int = errno.EREMOTEIO) -> None:
        """Fail each call to ``address`` (None: any) with ``OSError(code)`` at random with ``probability``."""
        if probability <= 0:
            self._rates.pop(address, None)
        else:
            self._rates[address] = (probability, code)

    def clear_faults(self) -> None:
        """Remove every injected fault and random error rate."""
        self._faults.clear()
        self._rates.clear()

    def stick(self) -> None:
        """Hold the bus: every call blocks until :meth:`release` (models SDA stuck low)."""
        self._released.clear()

    def release(self) -> None:
        """Free a stuck bus; blocked calls continue."""
        self._released.set()

    @property
    def stuck(self) -> bool:
        """Whether the bus is currently held by :meth:`stick`."""
        return not self._released.is_set()

    def _take_fault(self, address: int) -> FaultKind | None:
        for key in (address, None):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.popleft()
                return fault.kind
        for key in (address, None):
            rate = self._rates.get(key)
            if rate and self._rng.random() < rate[0]:
                raise _oserror(rate[1])
        return None

    # -- the transaction core

    def _transfer(self, address: int, ops: Sequence[tuple[Literal["w", "r"], bytes | int]]) -> list[bytes]:
        """Run write/read transactions to ``address`` atomically; return the data of the reads."""
        self._released.wait()
        with self._lock:
            self.calls += 1
            fault = self._take_fault(address)
            if fault == "nack":
                raise _oserror(errno.EREMOTEIO)
            if fault == "eio":
                raise _oserror(errno.EIO)
            chip = self.chips.get(address)
            if chip is None:
                raise _oserror(errno.EREMOTEIO)
            out: list[bytes] = []
            for op, arg in ops:
                if op == "w":
                    assert isinstance(arg, bytes)
                    self.log.append(LogEntry("w", address, arg))
                    chip.write(arg)
                else:
                    assert isinstance(arg, int)
                    data = chip.read(arg)
                    if fault == "garbage":
                        data = bytes(self._rng.randrange(256) for _ in range(arg))
                    self.log.append(LogEntry("r", address, data))
                    out.append(data)
            return out

    def writes(self, address: int | None = None) -> list[bytes]:
        """Return the logged write transactions (to ``address``, or all), oldest first."""
        return [e.data for e in self.log if e.op == "w" and (address is None or e.addr == address)]

    # -- smbus2.SMBus methods

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        """SMBus quick command (address + W, no data): raises on NACK."""
        self._transfer(i2c_addr, [])

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        """Read one byte without a register pointer."""
        return self._transfer(i2c_addr, [("r", 1)])[0][0]

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        """Write one byte (a command or a register pointer)."""
        self._transfer(i2c_addr, [("w", bytes([value]))])

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Read one byte from ``register``."""
        return self._transfer(i2c_addr, [("w", bytes([register])), ("r", 1)])[0][0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        """Write one byte to ``register``."""
        self._transfer(i2c_addr, [("w", bytes([register, value]))])

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Read a 16-bit word from ``register``, SMBus order (low byte first)."""
        data = self._transfer(i2c_addr, [("w", bytes([register])), ("r", 2)])[0]
        return data[0] | (data[1] << 8)

    def write_word_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        """Write a 16-bit word to ``register``, SMBus order (low byte first)."""
        self._transfer(i2c_addr, [("w", bytes([register, value & 0xFF, (value >> 8) & 0xFF]))])

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        """Read ``length`` (<= 32) bytes starting at ``register``."""
        if not 0 < length <= 32:
            raise ValueError(f"I2C block length must be 1..32, got {length}")
        return list(self._transfer(i2c_addr, [("w", bytes([register])), ("r", length)])[0])

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        """Write ``data`` (<= 32 bytes) starting at ``register``."""
        if len(data) > 32:
            raise ValueError(f"I2C block length must be <= 32, got {len(data)}")
        self._transfer(i2c_addr, [("w", bytes([register, *data]))])

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        """Run combined transfers (``smbus2.i2c_msg``); read messages are filled in place.

        Messages to one address run as one atomic transfer, like the kernel's I2C_RDWR ioctl.
        """
        for address, group in _group_by_address(i2c_msgs):
            ops: list[tuple[Literal["w", "r"], bytes | int]] = [
                ("r", int(m.len)) if m.flags & I2C_M_RD else ("w", bytes(m)) for m in group
            ]
            results = iter(self._transfer(address, ops))
            for m in group:
                if m.flags & I2C_M_RD:
                    data = next(results)
                    ctypes.memmove(m.buf, data, len(data))

    def close(self) -> None:
        """No-op, for parity with ``smbus2.SMBus.close``."""


def _group_by_address(msgs: Iterable[Any]) -> list[tuple[int, list[Any]]]:
    groups: list[tuple[int, list[Any]]] = []
    for m in msgs:
        if groups and groups[-1][0] == m.addr:
            groups[-1][1].append(m)
        else:
            groups.append((int(m.addr), [m]))
    return groups
