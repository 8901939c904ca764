"""Process set-up for the entry points (CLI, API, worker): logging, tracing, and the
garbage collector's freeze after start-up."""
