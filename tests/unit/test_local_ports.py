"""The local stack's ports: a taken API port is one line naming the flag; a taken default port of the
local Stripe, PayPal or DynamoDB is swapped for a free one; --port-base moves a whole stack."""

import socket
from collections.abc import Iterator

import pytest

from local import ports
from local.__main__ import main
from local.ports import PortBusy, resolve

NOTHING_CHOSEN: dict[str, int | None] = {"port": None, "stripe_port": None, "paypal_port": None, "dynamodb_port": None}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_taken_api_port_stops_the_stack_with_one_line_naming_the_flags(taken):
    with pytest.raises(PortBusy) as busy:
        resolve("127.0.0.1", NOTHING_CHOSEN | {"port": taken})
    message = str(busy.value)
    assert f"Port {taken} (the API) is in use" in message
    assert f"--port {taken + 1}" in message and "--port-base" in message and "make run PORT_BASE=" in message
    assert "\n" not in message


def test_a_taken_default_port_of_a_helper_is_swapped_for_a_free_one_and_said(monkeypatch, taken):
    monkeypatch.setitem(ports.DEFAULTS, "stripe_port", taken)
    monkeypatch.setitem(ports.DEFAULTS, "port", free_port())
    chosen = resolve("127.0.0.1", NOTHING_CHOSEN | {"paypal_port": 0, "dynamodb_port": 0})
    assert chosen.stripe_port == 0  # the server binds any free port; the banner shows it
    assert chosen.notes == (f"Port {taken} (the local Stripe) is in use: the local Stripe takes a free port instead (see below).",)


def test_a_helper_port_chosen_on_purpose_is_never_swapped(taken):
    with pytest.raises(PortBusy, match=f"Port {taken} \\(the local PayPal\\) is in use.*--paypal-port"):
        resolve("127.0.0.1", NOTHING_CHOSEN | {"port": 0, "paypal_port": taken})


def test_port_base_places_the_four_ports_side_by_side():
    base = ports.free_base("127.0.0.1", start=20000, step=7)
    chosen = resolve("127.0.0.1", NOTHING_CHOSEN, port_base=base)
    assert (chosen.port, chosen.stripe_port, chosen.paypal_port, chosen.dynamodb_port) == (base, base + 1, base + 2, base + 3)
    assert chosen.notes == ()


def test_a_port_the_stack_will_not_bind_is_not_checked(taken):
    chosen = resolve("127.0.0.1", NOTHING_CHOSEN | {"port": 0, "dynamodb_port": taken}, unused=frozenset({"dynamodb_port"}))
    assert chosen.dynamodb_port == taken


def test_python_m_local_run_on_a_taken_port_exits_with_the_message_before_starting_anything(taken, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--port", str(taken)])
    assert str(stopped.value).startswith(f"python -m local: Port {taken} (the API) is in use")
    assert "Starting the local stack" not in capsys.readouterr().out
