"""The ``hub`` command (console script ``hub = "hub.cli.main:main"``, and ``python -m hub``).

It sits above the core: commands may use the simulators (:mod:`hub.simulate`),
the demo and the conformance kit (:mod:`hub.testing.conformance`), which
``hub.core`` must never import.

* :mod:`hub.cli.main`: the parser and the commands (run, demo, check-config, ...);
* :mod:`hub.cli.conformance`: ``hub conformance``;
* ``hub simulate`` comes from :mod:`hub.simulate.cli`.
"""
