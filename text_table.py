"""Plain-text tables for people: a header, a rule under it, columns padded to line up."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table"]


def format_table(rows: Sequence[Sequence[str]], align: str) -> str:
    """``rows[0]`` is the header; ``align`` has one letter per column, ``l`` or ``r``
    (numbers read best right-aligned)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, align, strict=True)
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])
