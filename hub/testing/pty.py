"""A fake serial device on a real pseudo-terminal, for testing serial sources.

:class:`PtyDevice` belongs to the product (``hub simulate`` puts its serial
devices on one): it lives in :mod:`hub.simulate.pty` and is re-exported here,
so tests keep writing ``from hub.testing.pty import PtyDevice``.
"""

from __future__ import annotations

__all__ = ["PtyDevice"]

from hub.simulate.pty import PtyDevice
