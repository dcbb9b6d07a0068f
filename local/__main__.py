"""``python -m local``: run the whole API locally, or print a token for it.

python -m local run [--port 3000 | --port-base 4000] [--host 127.0.0.1]
python -m local sam-local [--host ADDRESS] [--no-start-api] [-- SAM_ARGS...]   (after `make build`)
python -m local token --user alice [--staff] [--expires-in 3600]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from local.jwt_keys import DEFAULT_KEY_PATH, LocalAuthority

if TYPE_CHECKING:
    from local.stack import StackConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="start the local stack in the foreground (default)")
    run.add_argument("--host", default=os.environ.get("LOCAL_HOST", "127.0.0.1"))
    _add_addresses(run, api="API port (default 3000, as sam local; LOCAL_PORT)")
    run.add_argument(
        "--dynamodb-endpoint", default=os.environ.get("LOCAL_DYNAMODB_ENDPOINT"), help="use this DynamoDB instead of the embedded one"
    )
    run.add_argument(
        "--sweep-interval", type=int, default=None, help="seconds between reservation sweeps (default: the template's schedule)"
    )
    run.add_argument("--no-demo-data", action="store_true")
    run.add_argument("--quiet", action="store_true", help="no request log")
    run.add_argument("--metrics", action="store_true", help="show the functions' metric lines (CloudWatch EMF) in the log")

    sam = commands.add_parser(
        "sam-local", help="the dependencies on the host, the env-vars file, then `sam local start-api` (after `make build`)"
    )
    sam.add_argument(
        "--host", default=os.environ.get("SAM_LOCAL_HOST"), help="where the containers reach the host (default: Docker's bridge gateway)"
    )
    _add_addresses(sam, api="sam local start-api's port")
    sam.add_argument("--no-start-api", action="store_true", help="only the dependencies and the env-vars file (for `sam local invoke`)")
    sam.add_argument("sam_args", nargs=argparse.REMAINDER, help="after --: more arguments for sam local start-api")

    token = commands.add_parser("token", help="print a bearer token the local API accepts")
    token.add_argument("--user", required=True, help="the user id (sub claim)")
    token.add_argument("--staff", action="store_true", help="add the staff group")
    token.add_argument("--expires-in", type=int, default=12 * 3600, help="lifetime in seconds")

    args = parser.parse_args(argv)
    authority = LocalAuthority.load_or_create(DEFAULT_KEY_PATH)
    if args.command == "token":
        print(authority.issue(args.user, staff=args.staff, lifetime_s=args.expires_in))
        return 0
    if args.command is None:
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])

    from local.stack import Stack

    if args.command == "sam-local":
        return _sam_local(args, authority)
    if not args.metrics:
        from local.metric_lines import WithoutMetricLines

        sys.stdout = WithoutMetricLines(sys.stdout)
    config = stack_config(
        args,
        host=args.host,
        dynamodb_endpoint=args.dynamodb_endpoint,
        sweep_interval_s=args.sweep_interval,
        demo_data=not args.no_demo_data,
        quiet=args.quiet,
    )
    stack = Stack(config, authority)
    print("Starting the local stack...", flush=True)
    stack.start()
    print(stack.banner(), flush=True)
    stack.wait()
    return 0


def _env_port(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _add_addresses(parser: argparse.ArgumentParser, api: str) -> None:
    # Unset ports stay None here: local.ports tells a port chosen on purpose from a default it may move.
    parser.add_argument("--port", type=int, default=_env_port("LOCAL_PORT"), help=api)
    parser.add_argument(
        "--port-base",
        type=int,
        default=_env_port("LOCAL_PORT_BASE"),
        help="every port from one number: the API at N, the local Stripe, PayPal and DynamoDB at N+1, N+2, N+3 (LOCAL_PORT_BASE)",
    )
    parser.add_argument("--stripe-port", type=int, default=_env_port("LOCAL_STRIPE_PORT"), help="default 12111, or a free one")
    parser.add_argument("--paypal-port", type=int, default=_env_port("LOCAL_PAYPAL_PORT"), help="default 12112, or a free one")
    parser.add_argument("--dynamodb-port", type=int, default=_env_port("LOCAL_DYNAMODB_PORT"), help="default 12113, or a free one")
    parser.add_argument("--frontend-url", default=os.environ.get("FRONTEND_URL", "http://localhost:5173"))


def stack_config(args: argparse.Namespace, **options: Any) -> StackConfig:
    from local.ports import PortBusy, resolve
    from local.stack import StackConfig

    chosen = {"port": args.port, "stripe_port": args.stripe_port, "paypal_port": args.paypal_port, "dynamodb_port": args.dynamodb_port}
    unused = {
        "port": options.get("sam_local", False),  # sam local start-api binds it, and reports a taken one itself
        "dynamodb_port": bool(options.get("dynamodb_endpoint")),
        "stripe_port": bool(os.environ.get("STRIPE_SECRET_KEY")),  # real Stripe test mode
        "paypal_port": bool(os.environ.get("PAYPAL_CLIENT_ID")),  # the PayPal sandbox
    }
    try:
        ports = resolve(
            options.get("host", "127.0.0.1"),
            chosen,
            port_base=args.port_base,
            unused=frozenset(name for name, skip in unused.items() if skip),
        )
    except PortBusy as busy:
        raise SystemExit(f"python -m local: {busy}") from None
    for note in ports.notes:
        print(note, flush=True)
    return StackConfig(
        port=ports.port,
        stripe_port=ports.stripe_port,
        paypal_port=ports.paypal_port,
        dynamodb_port=ports.dynamodb_port,
        frontend_url=args.frontend_url,
        **options,
    )


def _sam_local(args: argparse.Namespace, authority: LocalAuthority) -> int:
    from local import sam_local
    from local.stack import Stack

    config = stack_config(args, host=args.host or sam_local.docker_bridge_gateway(), demo_data=False, sam_local=True)
    stack = Stack(config, authority)
    stack.start()
    print(stack.banner(), flush=True)
    if args.no_start_api:
        stack.wait()
        return 0
    assert stack.sam_env_file is not None
    extra = [arg for arg in args.sam_args if arg != "--"]
    api = sam_local.start_api(stack.sam_env_file, config.port, extra)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # A TERM (a process manager, a test) stops SAM too, as Ctrl-C does: no SAM left serving alone.
    signal.signal(signal.SIGTERM, stop)
    try:
        return api.wait()
    except KeyboardInterrupt:
        api.terminate()
        try:
            return api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            api.kill()
            return api.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
