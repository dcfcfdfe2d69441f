"""``python -m gateway`` is the ``sensorcast`` command."""

from gateway.cli.dispatch import main

raise SystemExit(main())
