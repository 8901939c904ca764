"""The Kafka broker's classpath, resolved from the pom kept beside this module."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conveyor.infra.maven import pom_property, resolve

__all__ = ["KAFKA_POM", "kafka_classpath", "kafka_version"]

KAFKA_POM = Path(__file__).with_name("pom.xml")


def kafka_version() -> str:
    return pom_property(KAFKA_POM, "kafka.version")


def kafka_classpath(cache_dir: Path) -> str:
    """A ``-cp`` value holding the broker and every runtime dependency."""
    # Named by the pom's content too: changing a dependency resolves afresh.
    digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
    libs = resolve(
        f"kafka-{kafka_version()}-{digest}",
        cache_dir,
        lambda out: [
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={out}",
        ],
    )
    return f"{libs}/*"
