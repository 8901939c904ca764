"""Plain-text tables: columns line up, numbers to the right."""

from __future__ import annotations

from conveyor.common.text_table import format_markdown_table, format_table


def test_columns_line_up_under_a_rule_with_numbers_right_aligned() -> None:
    table = format_table(
        [("topic", "lag", "owner"), ("orders", "1200", "w-1"), ("x", "7", "")], "lrl"
    )

    assert table.splitlines() == [
        "topic    lag  owner",
        "------  ----  -----",
        "orders  1200  w-1",
        "x          7",
    ]


def test_a_markdown_table_aligns_numbers_right_and_escapes_pipes_in_cells() -> None:
    table = format_markdown_table([("figure", "value"), ("p50 | p99", "1,200")], "lr")

    assert table.splitlines() == [
        "| figure | value |",
        "| --- | ---: |",
        "| p50 \\| p99 | 1,200 |",
    ]
