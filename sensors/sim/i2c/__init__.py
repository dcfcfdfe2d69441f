"""Bus-level emulators of I2C chips: register maps that encode slowly varying physical values."""
