"""The ground floor: what a conveyor record is on Kafka, and the clients that carry it.

Record identity and CloudEvents headers (``identity``), the event a record carries and
where it landed (``events``), conveyor's own headers (``headers``), topic names of its
own (``topics``), client configuration and credentials (``config``, ``credentials``) and
the admin client (``admin``). The API, the workers and the operator tools all stand on
it; it imports nothing above ``config`` and ``schemas``.
"""
