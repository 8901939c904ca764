"""Everything that writes to Kafka from outside the workers.

The producer configuration every writer shares, topic provisioning, sample traffic;
later the API's async producer, the Python client, ``send``, ``replay`` and DLQ redrive.
"""
