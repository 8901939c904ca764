"""conveyor: a Web-Queue-Worker system on Apache Kafka.

The repository root is the ``conveyor`` package: each top-level folder is one
layer of the architecture (``api``, ``producers``, ``processors``, ``schemas``,
``config``), importable as ``conveyor.<folder>``.
"""

__version__ = "0.1.0"
