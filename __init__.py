"""conveyor: a Web-Queue-Worker system on Apache Kafka.

The repository root is the ``conveyor`` package: each top-level folder is one room of
the architecture, importable as ``conveyor.<folder>``, on a floor of its own (the
README's map; ``tests/unit/test_layers.py`` keeps imports flowing down).
"""

__version__ = "0.1.0"
