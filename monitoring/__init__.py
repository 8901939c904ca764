"""Watching the pipeline: consumer lag (later metrics and traces)."""
