"""The result store's record of idempotency keys, on each backend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from conveyor.store import IdempotencyKeys, JobStore


def test_of_requests_racing_to_claim_a_key_one_wins_and_all_read_its_fingerprint(
    store: JobStore,
) -> None:
    keys = IdempotencyKeys(store.engine)
    now = datetime.now(UTC)
    fingerprints = [f"{n:064x}" for n in range(8)]

    with ThreadPoolExecutor(len(fingerprints)) as pool:
        firsts = list(pool.map(lambda f: keys.claim("race", "orders", f, now), fingerprints))

    (first,) = set(firsts)
    assert first[0] == "orders"
    assert first[1] in fingerprints
    assert keys.claim("race", "notifications", fingerprints[0], now) == first
    assert keys.claim("other", "notifications", fingerprints[0], now) == (
        "notifications",
        fingerprints[0],
    )
