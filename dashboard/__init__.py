"""The operator's web dashboard: jobs, streams, lag, dead letters and schedules.

The API serves it under ``/ui`` (``dashboard.enabled``); it reads the result store and
Kafka, and acts only through the operator tools the CLI uses.
"""

from conveyor.dashboard.app import Dashboard, KeyCheck

__all__ = ["Dashboard", "KeyCheck"]
