"""Resolving JVM artifacts from Maven Central into conveyor's cache.

The first start asks Maven for the artifacts a launcher runs and keeps them in
conveyor's cache directory, named by version (and, for Kafka, by its pom's
content); later starts find them there and need no network.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

from conveyor.infra.exceptions import PrerequisiteError, ResolutionError

__all__ = ["java_executable", "pom_property", "resolve"]

log = logging.getLogger(__name__)

MIN_JAVA = 17
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def java_executable() -> str:
    """The ``java`` on PATH, checked to be Java 17 or newer."""
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteError(f"Java {MIN_JAVA}+ is required but `java` is not on PATH")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if match is None or int(match.group(1)) < MIN_JAVA:
        found = match.group(1) if match else "unknown"
        raise PrerequisiteError(f"Java {MIN_JAVA}+ is required; `java` on PATH is {found}")
    return java


def pom_property(pom: Path, name: str) -> str:
    """A ``<properties>`` value of ``pom`` (the single place versions are written)."""
    root = ET.parse(pom).getroot()  # noqa: S314 - our own pom, shipped with conveyor
    node = root.find(f"m:properties/m:{name}", _POM_NS)
    if node is None or not node.text:
        raise ResolutionError(f"{pom} has no <{name}> property", pom)
    return node.text.strip()


def resolve(
    name: str,
    cache_dir: Path,
    mvn_args: Callable[[Path], Sequence[str]],
    finish: Callable[[Path], None] | None = None,
) -> Path:
    """Run Maven once to fill ``cache_dir/name``; later calls return it without Maven.

    ``mvn_args(out)`` are Maven's arguments writing into ``out``; ``finish(out)``
    may post-process (unpack) it. The result is built elsewhere and renamed into
    place, so a half-finished resolution is never mistaken for a finished one.
    """
    target = cache_dir / name
    if target.is_dir():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteError(
            f"Maven is required to resolve {name} the first time, but `mvn` is not on PATH"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    maven_log = cache_dir / f"{name}.resolve.log"
    log.info("resolving %s from Maven Central into %s", name, target)
    with maven_log.open("w") as out:
        result = subprocess.run(
            [mvn, "-B", *mvn_args(staging)], stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ResolutionError(f"Maven could not resolve {name}", maven_log)
    if finish is not None:
        finish(staging)
    staging.rename(target)
    return target
