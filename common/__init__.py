"""Small utilities any floor may use: backoff with jitter, a token-bucket rate limit, text
tables for the CLI and the benchmarks."""
