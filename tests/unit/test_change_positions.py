"""Where a follower of a change feed stands, as its SSE event ids carry it."""

from __future__ import annotations

import pytest

from conveyor.api.changes import Position, parse_position
from conveyor.api.exceptions import InvalidEventsError


def test_a_position_reads_back_from_its_event_id() -> None:
    position = Position({0: (15, 0), 2: (7, 3), 1: (0, 0)})

    assert position.text() == "0:15.0,1:0.0,2:7.3"
    assert parse_position(position.text()) == position


@pytest.mark.parametrize("text", ["", "0:15", "a:1.0", "0:1.0;1:2.0", "0:-1.0"])
def test_an_event_id_not_of_the_feed_is_refused_with_the_header_named(text: str) -> None:
    with pytest.raises(InvalidEventsError) as refused:
        parse_position(text)

    assert refused.value.detail[0]["loc"] == ["header", "Last-Event-ID"]
