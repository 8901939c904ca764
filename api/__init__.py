"""The thin ingest API (FastAPI on uvicorn): validation, auth, back pressure, job status."""
