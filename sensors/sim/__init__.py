"""Bus-level emulators (product code: demo mode and tests run on them); :mod:`sensors.sim.emulators` is what a
simulated build context hands out to the drivers."""
