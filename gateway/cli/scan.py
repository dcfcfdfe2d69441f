"""``sensorcast scan [--bus N] [--simulate]``: list what answers on an I2C bus and name known chips."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "probe an I2C bus like i2cdetect and name the chips sensorcast has drivers for"


def _address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an address such as 0x08, got {text!r}") from None
    if not 0x03 <= value <= 0x77:
        raise argparse.ArgumentTypeError(f"expected an address in 0x03..0x77, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``scan``'s arguments."""
    p.add_argument("--bus", type=int, default=1, metavar="N", help="bus number, /dev/i2c-N (default 1)")
    p.add_argument("--simulate", action="store_true", help="scan the emulated bus of the demo instead")
    p.add_argument("--first", type=_address, default=0x08, help="first address (default 0x08)")
    p.add_argument("--last", type=_address, default=0x77, help="last address (default 0x77)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of the table")


def _open(bus: int) -> Any:
    import smbus2

    return smbus2.SMBus(bus)


def main(args: argparse.Namespace) -> int:
    """Scan and print; exit 1 when the bus cannot be opened, 2 for a bad range."""
    from sensors.scan import format_grid, scan
    from sensors.sim.emulators import simulated_bus

    if args.first > args.last:
        print(f"scan: --first {args.first:#04x} is above --last {args.last:#04x}", file=sys.stderr)
        return 2
    if args.simulate:
        bus = simulated_bus(args.bus)
    else:
        try:
            bus = _open(args.bus)
        except FileNotFoundError:
            print(f"scan: /dev/i2c-{args.bus} not found: enable I2C (raspi-config, or dtparam=i2c_arm=on in "
                  "config.txt) and check the bus number with `ls /dev/i2c-*`; --simulate scans the demo bus",
                  file=sys.stderr)  # fmt: skip
            return 1
        except PermissionError:
            print(f"scan: /dev/i2c-{args.bus}: permission denied; add your user to the 'i2c' group",
                  file=sys.stderr)  # fmt: skip
            return 1
        except OSError as exc:
            print(f"scan: cannot open /dev/i2c-{args.bus}: {exc.strerror}", file=sys.stderr)
            return 1
    try:
        result = scan(bus, args.bus, args.first, args.last)
    finally:
        bus.close()
    if args.json:
        print(json.dumps({
            "bus": result.bus, "simulated": bool(args.simulate),
            "present": [f"{a:#04x}" for a in result.present], "busy": [f"{a:#04x}" for a in result.busy],
            "devices": [{"address": f"{i.address:#04x}", "name": i.name, "evidence": i.evidence,
                         "driver": i.driver, "certain": i.certain} for i in result.identified],
        }, indent=2))  # fmt: skip
        return 0
    print(f"I2C bus {args.bus}{' (simulated)' if args.simulate else ''}:")
    print(format_grid(result, args.first, args.last))
    if not result.present:
        print("\nNothing answered. Check wiring (SDA/SCL not swapped, 3.3 V, common ground) and pull-ups.")
    for ident in result.identified:
        driver = f'driver = "{ident.driver}"' if ident.driver else "no sensorcast driver"
        print(f"{ident.address:#04x}  {ident.name:<28} {ident.evidence:<40} {driver}")
    for address in result.busy:
        print(f"{address:#04x}  UU (claimed by a kernel driver; not probed)")
    return 0
