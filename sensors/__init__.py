"""Sensor drivers and bus-level emulators for sensorcast.

This package never imports from ``gateway`` or ``bridges``: drivers are plain blocking classes on an injected bus,
pin factory or port, so they can be tested against emulators and reused outside the gateway.
"""
