"""Tables for people: plain text (a header, a rule under it, columns padded to line up) or
Markdown (for the README and reports)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_markdown_table", "format_table"]


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


def format_markdown_table(rows: Sequence[Sequence[str]], align: str) -> str:
    """A Markdown table of ``rows`` (``rows[0]`` the header), aligned as :func:`format_table`."""
    rule = ["---" if side == "l" else "---:" for side in align]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(rows[0]), line(rule), *(line(row) for row in rows[1:])])
