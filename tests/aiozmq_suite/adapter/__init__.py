"""Holds the ``aiozmq`` adapter package; ``run.py`` puts this folder first on ``sys.path``."""
