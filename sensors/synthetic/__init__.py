"""The synthetic load source: smooth, deterministic waveforms on any number of fields, for benchmarks and soak
tests. A driver like the others (it emulates no chip, so it does not live with the emulators in sensors.sim)."""

SENSOR_DRIVERS: dict[str, str] = {
    "synthetic": "sensors.synthetic.source:build",
}
