"""``python -m gateway`` is the ``sensorcast`` command."""

from gateway.cli.main import main

raise SystemExit(main())
