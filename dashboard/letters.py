"""A stream's dead letters as the page shows them: grouped by error type, newest first,
each with its headers and decoded value, and whether it was redriven."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from conveyor.config import Settings, StreamDeclaration
from conveyor.ops.deadletters import DeadLetter, read_dead_letters
from conveyor.ops.redrive import read_ledger, was_redriven

__all__ = ["ErrorGroup", "LetterView", "StreamLetters", "stream_letters"]

# Dead letters shown per error type; the counts cover every one.
_SHOWN = 100


@dataclass(frozen=True)
class LetterView:
    letter: DeadLetter
    redriven: bool

    @property
    def headers(self) -> dict[str, str]:
        return {
            name: value.decode(errors="replace")
            for name, value in self.letter.event.headers.items()
        }

    @property
    def value_text(self) -> str:
        """The decoded value as JSON; poison that is not Avro, as base64."""
        if self.letter.value is not None:
            return json.dumps(self.letter.value, indent=2, default=str)
        raw = self.letter.event.raw
        return "(empty)" if raw is None else f"not Avro, base64: {base64.b64encode(raw).decode()}"


@dataclass
class ErrorGroup:
    error: str
    total: int = 0
    redriven: int = 0
    letters: list[LetterView] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return self.total - self.redriven


@dataclass(frozen=True)
class StreamLetters:
    stream: StreamDeclaration
    groups: list[ErrorGroup]

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)


def stream_letters(settings: Settings, stream: StreamDeclaration) -> StreamLetters:
    """Read ``stream``'s DLQ and redrive ledger (as ``conveyor dlq show`` does)."""
    ledger = read_ledger(settings, stream)
    letters = sorted(read_dead_letters(settings, stream), key=lambda d: -d.millis)
    groups: dict[str, ErrorGroup] = {}
    for letter in letters:
        group = groups.setdefault(letter.error_type, ErrorGroup(letter.error_type))
        redriven = was_redriven(letter, ledger)
        group.total += 1
        group.redriven += redriven
        if len(group.letters) < _SHOWN:
            group.letters.append(LetterView(letter, redriven))
    return StreamLetters(stream, sorted(groups.values(), key=lambda g: g.error))
