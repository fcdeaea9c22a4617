"""The one id generator (``renkei.ids``), as ingest calls it for every event."""

import time

import pytest

from renkei import ids as generator
from renkei.events.ingest import new_event_id
from renkei.ids import new_id

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _decode(event_id: str) -> tuple[int, int]:
    """The (milliseconds, random part) a generated id encodes."""
    assert event_id.startswith("evt_") and len(event_id) == 30
    number = 0
    for char in event_id[4:]:
        number = number * 32 + _CROCKFORD.index(char)
    return number >> 80, number & ((1 << 80) - 1)


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_event_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    milliseconds, _ = _decode(ids[-1])
    assert abs(milliseconds - time.time_ns() // 1_000_000) < 60_000


def test_a_carry_out_of_the_reused_low_bits_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    new_event_id()
    # Pretend the clock stands still in a future millisecond, just before the low 20
    # bits of the random part roll over.
    future_ms = time.time_ns() // 1_000_000 + 3_600_000
    monkeypatch.setattr(generator, "_last_ms", future_ms - 1)
    first = new_event_id()
    monkeypatch.setattr(generator, "_last_ms", future_ms)
    milliseconds, random_part = _decode(first)
    start = (random_part | 0xFFFFF) - 2
    monkeypatch.setattr(generator, "_last_random", start)
    ids = [new_event_id() for _ in range(5)]
    assert [_decode(event_id)[1] for event_id in ids] == [start + n for n in range(1, 6)]
    assert all(_decode(event_id)[0] == milliseconds for event_id in ids)
    assert ids == sorted(ids)


def test_ids_of_every_prefix_come_from_one_clock_and_sort_together() -> None:
    made = [new_id(prefix) for _ in range(1000) for prefix in ("evt", "dlv")]
    bodies = [made_id.split("_", 1)[1] for made_id in made]
    assert len(set(bodies)) == len(bodies) and bodies == sorted(bodies)


def test_a_forked_child_does_not_make_its_parents_next_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``renkei serve`` forks its processes: a child in the parent's millisecond must not
    count on from the parent's random part (the parent's next id would be the child's)."""
    import os

    new_id("evt")
    # The clock stands still in the parent's millisecond (a future one, to be sure).
    monkeypatch.setattr(generator, "_last_ms", time.time_ns() // 1_000_000 + 3_600_000)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, new_id("evt").encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        childs = pipe.read()
    assert childs != new_id("evt")


def test_a_forked_child_does_not_draw_its_parents_random_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Random parts come from a buffer of ``os.urandom``: a child starting a millisecond
    must not take the bytes its parent takes when it starts one (same random part)."""
    import os

    new_id("evt")  # the buffer now holds bytes not used yet
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, new_id("evt").encode())  # a new millisecond for the child
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        childs = pipe.read()
    monkeypatch.setattr(generator, "_last_ms", 0)  # and one for the parent
    parents = new_id("evt")
    assert childs[-16:] != parents[-16:]  # the random parts
