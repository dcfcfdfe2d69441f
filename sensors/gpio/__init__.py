"""GPIO sensors and outputs: debounced digital inputs with edge events, a pulse counter, HC-SR04 distance,
MCP3008/MCP3208 ADCs, and LED / relay / PWM LED / servo outputs.

Backends: gpiozero (Raspberry Pi; the pin factory is always injected) and Jetson.GPIO (NVIDIA Jetson), see
:mod:`sensors.gpio.backend` (chosen per board by :mod:`sensors.gpio.choose`). This module stays light: no
gpiozero or Jetson.GPIO import until a driver is built.
"""

from typing import Any

SENSOR_DRIVERS: dict[str, str] = {
    "button": "sensors.gpio.inputs:build_input",
    "motion": "sensors.gpio.inputs:build_input",
    "line": "sensors.gpio.inputs:build_input",
    "digital_input": "sensors.gpio.inputs:build_input",
    "pulse_counter": "sensors.gpio.inputs:build_counter",
    "hcsr04": "sensors.gpio.analog:build_distance",
    "mcp3008": "sensors.gpio.analog:build_adc",
    "mcp3208": "sensors.gpio.analog:build_adc",
}

ACTUATOR_DRIVERS: dict[str, str] = {
    "led": "sensors.gpio.outputs:build_switch",
    "relay": "sensors.gpio.outputs:build_switch",
    "pwm_led": "sensors.gpio.outputs:build_pwm_led",
    "servo": "sensors.gpio.outputs:build_servo",
}

DEMO: list[dict[str, Any]] = [
    # Reed contact to GND with the internal pull-up: the pin reads high while the door is open.
    {
        "id": "door",
        "driver": "digital_input",
        "interval_s": 5,
        "simulate": True,
        "pin": 17,
        "pull": "up",
        "active_high": True,
        "bounce_time_s": 0.02,
        "hold_time_s": 3.0,
        "device_class": "door",
    },
    {"id": "motion", "driver": "motion", "interval_s": 5, "simulate": True, "pin": 4},
    {
        "id": "wind",
        "driver": "pulse_counter",
        "interval_s": 2,
        "simulate": True,
        "pin": 5,
        "window_s": 5.0,
        "rate_field": "wind_speed_kmh",
        "rate_factor": 2.4,  # Davis/Sparkfun cup anemometer: one closure per second = 2.4 km/h
        "rate_unit": "km/h",
    },
    {
        "id": "tank_level",
        "driver": "hcsr04",
        "interval_s": 1,
        "simulate": True,
        "echo_pin": 24,
        "trigger_pin": 23,
    },
    {
        "id": "spi_adc",
        "driver": "mcp3008",
        "interval_s": 1,
        "simulate": True,
        "channels": [{"channel": 0, "name": "soil"}, {"channel": 1, "name": "light"}],
    },
]

DEMO_ACTUATORS: list[dict[str, Any]] = [
    {
        "id": "relay1",
        "driver": "relay",
        "simulate": True,
        "pin": 26,
        "active_high": False,
        "safe_on_disconnect": True,
    },
    {"id": "led1", "driver": "pwm_led", "simulate": True, "pin": 18},
    {"id": "servo1", "driver": "servo", "simulate": True, "pin": 12},
]
