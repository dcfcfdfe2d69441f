"""The ``sensorcast`` command line: ``main`` dispatches, one module per subcommand, plus logging setup."""
