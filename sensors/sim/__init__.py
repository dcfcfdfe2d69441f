"""Bus-level emulators (product code: demo mode and tests run on them) and the synthetic load source."""

SENSOR_DRIVERS: dict[str, str] = {
    "synthetic": "sensors.sim.synthetic:build",
}
