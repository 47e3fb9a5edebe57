"""``python -m hub`` is the same as the ``hub`` command."""

from hub.core.cli import main

raise SystemExit(main())
