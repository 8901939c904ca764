"""Progress on stderr for long work: a bar when the total is known, a running count if not."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

__all__ = ["progress"]


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; shows rate and ETA with a total, count and rate without."""
    if total is not None:
        bar: ProgressBar[int] = click.progressbar(
            length=total, label=label, show_pos=True, show_eta=True, file=sys.stderr
        )
        with bar:
            yield bar.update
        return
    done = 0
    began = last = time.monotonic()

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= 0.5:
            last = now
            click.echo(f"\r{label}: {done} ({done / (now - began):,.0f}/s)", nl=False, err=True)

    yield advance
    elapsed = max(time.monotonic() - began, 1e-9)
    click.echo(f"\r{label}: {done} ({done / elapsed:,.0f}/s)", err=True)
