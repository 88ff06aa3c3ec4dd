"""The ``zili`` command line: ``zili demo``, ``train``, ``generate``, ``eval``, ``data``."""
