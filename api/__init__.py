"""The thin ingest API (FastAPI on uvicorn): validation, auth, back pressure, job status.

It assembles routers and calls the producer; Avro, Kafka and the store live elsewhere.
"""

from conveyor.api.app import check_bind, create_app

__all__ = ["check_bind", "create_app"]
