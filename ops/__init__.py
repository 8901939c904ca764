"""The operator's tools: topic provisioning (plan, then apply), replay (group resets and
re-publishing by time or offset range), and the dead-letter queue and its redrive."""
