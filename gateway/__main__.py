"""``python -m gateway`` is the ``sensorcast`` command."""

from gateway.cli import main

raise SystemExit(main())
