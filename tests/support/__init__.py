"""Helpers the tests share: where the broker comes from, unique names, polling waits."""
