"""The workers: the Faust app, its agents and sinks, retries and the dead-letter queue."""
