"""The workers: the Faust app, its agents and sinks, the outbox relay, retries and dead
letters, priorities, delays and schedules."""
