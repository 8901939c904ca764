"""The API's callers: its Python client (sync and async, backing off on 429 and 503) and
the sample traffic the demo and benchmarks send."""
