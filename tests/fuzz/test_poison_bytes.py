"""Random bytes written to every topic a worker consumes end in the DLQ, and the worker lives.

Values are arbitrary bytes, nothing at all, or bytes dressed as the Confluent wire format
(magic byte, a schema id the registry has or does not have, then noise), keys arbitrary
too. Only values the workers' own decoder refuses are kept: anything else is an event, not
poison. Each example's records must all be dead-lettered, once each, by a worker that is
still running afterwards and still applies a valid order.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from confluent_kafka import Producer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.kafka.config import producer_config
from conveyor.schemas import registry_client
from conveyor.schemas.exceptions import DecodeError
from conveyor.schemas.serde import AvroDecoder, register_value_schema
from support.events import orders_json, read_to_end
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, worker_process

Record = tuple[str, bytes | None, bytes | None]  # topic, key, value

settings_for_a_running_worker = settings(
    max_examples=5,
    deadline=None,
    database=None,
    # Each example waits for a real worker; most random Avro bodies still decode as
    # notifications (four strings), so the filter throws many away.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_bytes_on_every_consumed_topic_are_dead_lettered_and_never_stop_a_worker(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    with (
        make_pipeline(workers=0) as pipeline,
        worker_process(pipeline.settings, tmp_path, "worker", 1) as worker,
        registry_client(pipeline.settings.schema_registry) as registry,
    ):
        config = pipeline.settings
        streams = config.streams.values()
        decoders = {
            topic: AvroDecoder(stream.avro_schema, registry)
            for stream in streams
            for topic in stream.consumed_topics
        }
        schema_ids = [register_value_schema(registry, s) for s in streams]

        def undecodable(record: Record) -> bool:
            topic, _, value = record
            try:
                decoders[topic].decode(value)
            except DecodeError:
                return True
            return False

        wire = st.builds(
            lambda schema_id, noise: b"\x00" + schema_id.to_bytes(4, "big") + noise,
            st.sampled_from(schema_ids) | st.integers(0, 2**32 - 1),
            st.binary(max_size=200),
        )
        records = st.tuples(
            st.sampled_from(sorted(decoders)),
            st.none() | st.binary(max_size=20),
            st.none() | st.binary(max_size=200) | wire,
        ).filter(undecodable)
        producer = Producer(producer_config(config.kafka))
        written = 0

        @settings_for_a_running_worker
        @given(batch=st.lists(records, min_size=1, max_size=40))
        def poison(batch: list[Record]) -> None:
            nonlocal written
            for topic, key, value in batch:
                producer.produce(topic, key=key, value=value)
            assert producer.flush(30) == 0
            written += len(batch)
            wait_for(
                lambda: _dead_letters(pipeline) >= written,
                timeout=60,
                what=f"{written} dead letters",
            )
            assert worker.poll() is None, "the worker died"

        poison()

        assert _dead_letters(pipeline) == written
        assert job_statuses(config) == {"dead_lettered": written}
        response = pipeline.api.post("/v1/streams/orders/events", json=orders_json(1)[0])
        assert response.status_code == 202
        wait_for(
            lambda: job_statuses(config)["succeeded"] == 1,
            timeout=60,
            what="a valid order applied after the poison",
        )
        assert worker.poll() is None


def _dead_letters(pipeline: Pipeline) -> int:
    return sum(
        len(read_to_end(pipeline.settings, stream.dlq_topic, decode=False))
        for stream in pipeline.settings.streams.values()
    )
