"""``python -m gateway`` is the ``sensorcast`` command."""

import sys

try:
    from gateway.cli.dispatch import main
except KeyboardInterrupt:  # Ctrl-C while importing: one line, no traceback (as dispatch.main does later)
    sys.stderr.write("sensorcast: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
