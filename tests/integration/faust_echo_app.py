"""A minimal Faust app for the client smoke test: copies one topic to another.

Run as ``faust -A faust_echo_app worker``; topics and broker come from the environment.
"""

import os

import faust

app = faust.App(
    os.environ["ECHO_APP_ID"],
    broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}",
    web_enabled=False,
)
source = app.topic(os.environ["ECHO_SOURCE"], key_serializer="raw", value_serializer="raw")
sink = app.topic(os.environ["ECHO_SINK"], key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def echo(stream: faust.StreamT[bytes]) -> None:
    async for key, value in stream.items():
        await sink.send(key=key, value=value)
