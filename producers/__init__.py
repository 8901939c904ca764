"""What writes events to Kafka from outside the workers: the API's asyncio producer, and a
bare producer that writes as the API would (benchmark baselines, preloaded topics, tests)."""
