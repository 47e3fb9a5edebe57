"""``python -m hub`` is the same as the ``hub`` command."""

from hub.cli.main import main

raise SystemExit(main())
