"""A JSON object that names a key twice is refused whole (a 400), wherever the object sits: the
parser's "last one wins" would let one body say two things."""

from __future__ import annotations

import time

import pytest

from payments.errors import BadRequest
from payments.json_input import load_json


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"quantity": 50, "quantity": 1}', "quantity: repeated field"),
        (b'{"event_id": 1, "event_\\u0069d": 2}', "event_id: repeated field"),  # spelled again with an escape
        (b'{"data": {"object": {"id": "a", "id": "b"}}}', "id: repeated field"),  # nested, as in a provider event
        (b'[{"a": 1}, {"b": 1, "b": 2}]', "b: repeated field"),
        (b'{"\\u00e9": 1, "\\u00e9": 2}', "Request body repeats a field"),  # not a plain name: not echoed
        (b'{"' + b"k" * 65 + b'": 1, "' + b"k" * 65 + b'": 2}', "Request body repeats a field"),
    ],
)
def test_a_repeated_key_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        load_json(body)
    assert refused.value.message == message


def test_the_same_key_in_different_objects_is_not_a_repeat() -> None:
    assert load_json(b'[{"id": 1}, {"id": 2, "inner": {"id": 3}}]') == [{"id": 1}, {"id": 2, "inner": {"id": 3}}]


def test_a_full_body_of_objects_parses_in_milliseconds() -> None:
    # 64 KiB of small objects, each checked for repeats: the check must not make a big body costly.
    body = ("[" + ",".join(['{"a":1,"b":2}'] * 4600) + "]").encode()
    assert len(body) < 65_536
    started = time.thread_time()
    assert len(load_json(body)) == 4600
    assert time.thread_time() - started < 0.25
