"""The bundled demo configuration (``hub demo``)."""
