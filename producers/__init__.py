"""Everything that writes to Kafka from outside the workers.

The producer configuration every writer shares, topic provisioning, sample traffic, the
API's async producer, the Python client, ``send``, ``replay`` (group resets and
re-publishing) and the DLQ's redrive.
"""
