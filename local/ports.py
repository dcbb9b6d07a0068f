"""The local stack's ports: checked before anything starts, so that a second stack (or anything else
on a port) is one line naming the flag that frees it, not the web server's stock "address in use".

The API port is the one a user types into curl and the frontend: when it is taken, the stack stops and
says which flag moves it. The local Stripe's, PayPal's and DynamoDB's ports are only ever read from the
banner and passed to the functions, so when one of their defaults is taken the stack takes any free
port instead and says so. A port chosen on purpose (its flag, its variable, or --port-base) is never
swapped: a taken one stops the stack like the API's.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

DEFAULTS = {"port": 3000, "stripe_port": 12111, "paypal_port": 12112, "dynamodb_port": 12113}
# With --port-base N: the API at N, then the local Stripe, PayPal and DynamoDB at N+1, N+2, N+3.
OFFSETS = {"port": 0, "stripe_port": 1, "paypal_port": 2, "dynamodb_port": 3}
ROLES = {"port": "the API", "stripe_port": "the local Stripe", "paypal_port": "the local PayPal", "dynamodb_port": "the local DynamoDB"}
FLAGS = {"port": "--port", "stripe_port": "--stripe-port", "paypal_port": "--paypal-port", "dynamodb_port": "--dynamodb-port"}
VARIABLES = {
    "port": "LOCAL_PORT",
    "stripe_port": "LOCAL_STRIPE_PORT",
    "paypal_port": "LOCAL_PAYPAL_PORT",
    "dynamodb_port": "LOCAL_DYNAMODB_PORT",
}


class PortBusy(Exception):
    """A port the stack must have is taken; the message names it and the flag that moves it."""


@dataclass(frozen=True)
class Ports:
    port: int
    stripe_port: int
    paypal_port: int
    dynamodb_port: int
    notes: tuple[str, ...] = ()  # what was moved, for the user


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (with SO_REUSEADDR, as werkzeug's server binds)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return True  # not ours to judge: the server's own bind reports an unknown host
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


def free_base(host: str, start: int = 4000, step: int = 1000) -> int:
    """The first of start, start+step, ... under 60000 whose four ports are all free now."""
    for base in range(start, 60000, step):
        if all(is_free(host, base + offset) for offset in OFFSETS.values()):
            return base
    return start


def busy_message(host: str, name: str, port: int) -> str:
    base = free_base(host)
    return (
        f"Port {port} ({ROLES[name]}) is in use, perhaps by another local stack. "
        f"Choose another with {FLAGS[name]} {port + 1} (or {VARIABLES[name]}), "
        f"or move every port of this stack at once with --port-base {base} (make run PORT_BASE={base})."
    )


def resolve(host: str, chosen: dict[str, int | None], *, port_base: int | None = None, unused: frozenset[str] = frozenset()) -> Ports:
    """The ports to use: ``chosen`` holds what the flags or variables set (None: not set).

    ``unused`` names the ports this stack will not bind (the real Stripe instead of the local one,
    another DynamoDB): they are passed through unchecked.
    """
    ports: dict[str, int] = {}
    notes: list[str] = []
    for name, default in DEFAULTS.items():
        value = chosen.get(name)
        on_purpose = value is not None or port_base is not None
        port = value if value is not None else (port_base + OFFSETS[name] if port_base is not None else default)
        if port == 0 or name in unused:
            ports[name] = port
            continue
        if is_free(host, port):
            ports[name] = port
        elif name == "port" or on_purpose:
            raise PortBusy(busy_message(host, name, port))
        else:
            ports[name] = 0  # any free port: the banner shows which, the functions are told
            notes.append(f"Port {port} ({ROLES[name]}) is in use: {ROLES[name]} takes a free port instead (see below).")
    return Ports(**ports, notes=tuple(notes))
