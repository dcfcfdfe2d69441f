"""The ``sensorcast`` command line: ``dispatch`` picks the subcommand, one module per subcommand, plus logging
setup. ``main`` is here too, so a console script installed as ``gateway.cli:main`` keeps working."""

from gateway.cli.dispatch import main

__all__ = ["main"]
