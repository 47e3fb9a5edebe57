"""``hub run CONFIG`` with the ``[[views]]`` of VIEWS.json on the loaded configuration.

The browser test starts the hub as a process, as a user would. ``[[views]]`` tables
reach a running hub's configuration with the views wiring (the viewwire branch); until
that is merged, this runs exactly what ``hub run`` runs with the views parsed by
``hub.views.parse_views`` set on the configuration. Once merged, the test writes the
views into the TOML file and starts ``hub run`` itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from hub.core.config import load_config
from hub.core.log_format import setup_logging
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub, run_until_stopped
from hub.views import parse_views


def main() -> int:
    config_path, views_path = sys.argv[1:3]
    registry = load_plugins()
    config = load_config(config_path, registry)
    views, problems = parse_views(json.loads(Path(views_path).read_text()))
    if problems:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    config.views = tuple(views)  # type: ignore[attr-defined]
    setup_logging("info", "text")
    the_hub = Hub(config, registry)

    async def body(stop: asyncio.Event) -> None:
        await the_hub.run(stop)

    return run_until_stopped(body)


if __name__ == "__main__":
    sys.exit(main())
