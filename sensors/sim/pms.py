"""A Plantower PMS5003/PMS7003 model: active-mode frames about once a second, and the host commands.

Implements the commands of the data manual (V2.3, "Host protocol"): ``0xE1`` passive/active mode, ``0xE2``
read in passive mode, ``0xE4`` sleep/wake. Values drift like indoor air with an occasional cooking spike.
"""

from __future__ import annotations

import math
import random

from sensors.serial.pms_codec import (
    CMD_MODE,
    CMD_READ,
    CMD_SLEEP,
    START,
    PmsFrame,
    checksum,
    encode_pms_frame,
)
from sensors.sim.history import BoundedList


def frame_for(pm2_5: float) -> PmsFrame:
    """Return a self-consistent frame for an atmospheric PM2.5 of ``pm2_5`` µg/m³ (typical urban ratios)."""
    pm1 = pm2_5 * 0.68
    pm10 = pm2_5 * 1.32
    n2_5 = pm2_5 * 3.1
    return PmsFrame(
        pm1_0_cf1=round(pm1),
        pm2_5_cf1=round(pm2_5),
        pm10_cf1=round(pm10),
        pm1_0=round(pm1),
        pm2_5=round(pm2_5),
        pm10=round(pm10),
        n0_3=round(pm2_5 * 180),
        n0_5=round(pm2_5 * 52),
        n1_0=round(pm2_5 * 9.5),
        n2_5=round(n2_5 * 0.4),
        n5_0=round(n2_5 * 0.08),
        n10=round(n2_5 * 0.02),
        reserved=0x9700,  # firmware 0x97, error code 0
    )


class PmsEmulator:
    """Particulate sensor model.

    Args:
        period_s: active-mode frame interval (the real sensor: 200-2300 ms depending on concentration).
        base_ugm3: mean PM2.5.
        seed: random seed.
    """

    def __init__(self, period_s: float = 1.0, base_ugm3: float = 9.0, seed: int = 5003) -> None:
        self.period_s = period_s
        self.base_ugm3 = base_ugm3
        self.active = True
        self.awake = True
        self._rng = random.Random(seed)
        self._next_s: float | None = None
        self._read_requested = False
        self._cmd = bytearray()
        self.commands: list[tuple[int, int]] = BoundedList()
        """Valid commands received (command, data), in order."""

    def pm2_5_at(self, t_s: float) -> float:
        """Modelled PM2.5 at ``t_s`` seconds: slow daily-like wave plus a spike every ten minutes."""
        spike = 60.0 * math.exp(-((((t_s % 600.0) - 300.0) / 30.0) ** 2))
        return max(0.0, self.base_ugm3 + 4.0 * math.sin(t_s / 90.0) + spike + self._rng.gauss(0.0, 0.6))

    def handle(self, data: bytes) -> None:
        """Parse host commands (7 bytes each); bad ones are ignored, as the sensor does."""
        self._cmd += data
        while True:
            idx = self._cmd.find(START)
            if idx < 0:
                del self._cmd[:-1]
                return
            del self._cmd[:idx]
            if len(self._cmd) < 7:
                return
            frame = bytes(self._cmd[:7])
            if checksum(frame[:5]) != int.from_bytes(frame[5:7], "big"):
                del self._cmd[:1]
                continue
            del self._cmd[:7]
            cmd, value = frame[2], int.from_bytes(frame[3:5], "big")
            self.commands.append((cmd, value))
            if cmd == CMD_MODE:
                self.active = value == 1
            elif cmd == CMD_SLEEP:
                self.awake = value == 1
            elif cmd == CMD_READ:
                self._read_requested = True

    def tick(self, now_s: float) -> list[bytes]:
        """Return the frame due at ``now_s`` (active mode), or the answer to a passive-mode read request."""
        if self._next_s is None:
            self._next_s = now_s
        if not self.awake:
            self._read_requested = False
            return []
        if self.active and now_s >= self._next_s:
            self._next_s += self.period_s
            return [encode_pms_frame(frame_for(self.pm2_5_at(now_s)))]
        if not self.active and self._read_requested:
            self._read_requested = False
            return [encode_pms_frame(frame_for(self.pm2_5_at(now_s)))]
        return []
