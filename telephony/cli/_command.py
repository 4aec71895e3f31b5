"""The ``telephony`` command: serve, demo, and control-API clients for a running server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from telephony.providers import TelephonyError

from ..config import Config, ConfigError, load_config
from ..observability import configure_logging

__all__ = ["build_parser", "main"]


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "port", None):
        overrides["serve"] = {"port": args.port}
    if getattr(args, "bind", None):
        overrides.setdefault("serve", {})["bind"] = args.bind
    return load_config(args.config, overrides=overrides or None)


def _serve(args: argparse.Namespace) -> int:
    from ..runtime import is_loopback
    from ..server import create_app, serve

    config = _config(args)
    # The config (or TELEPHONY_LOG_FORMAT through it) picks the format and level now it is read.
    configure_logging(config.logging.level, config.logging.format)
    app = create_app(config)
    log = logging.getLogger("telephony")
    log.info("listening on http://%s:%s", config.serve.bind, config.serve.port)
    if not config.control_token and not is_loopback(config.serve.bind):
        log.info("no controlToken: the control API answers requests from this machine only")
    # The URLs to give the carrier are logged once the app has started (its lifespan).
    serve(app)  # a stop signal drains live calls first (docs/restarts.md)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return 0 if asyncio.run(run_demo(engines=args.engines)) else 1


def _client(args: argparse.Namespace) -> Any:
    from ._client import ControlClient, server_url

    config = _config(args)
    return ControlClient(args.server or server_url(config), config.control_token)


def _control(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        if args.command == "call":
            to = args.to or _config(args).to_number
            if not to:
                raise ConfigError("no number to call: pass --to or set toNumber", path="toNumber")
            result: Any = client.place_call(to, message=args.message, mode=args.mode, media=args.media)
        elif args.command == "status":
            result = client.status(args.call_id)
        elif args.command == "speak":
            result = client.speak(args.call_id, args.text)
        elif args.command == "end":
            result = client.end(args.call_id)
        else:
            result = client.calls(active=args.active)
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``telephony`` command line: serve, demo, and the control-API client commands."""
    parser = argparse.ArgumentParser(
        prog="telephony", description="Provider-agnostic phone calls for AI agents."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--config", "-c", help="config file (JSON, TOML or YAML; openclaw files accepted)")
        return sub

    serve = with_config(commands.add_parser("serve", help="run the webhook, stream and control server"))
    serve.add_argument("--port", type=int)
    serve.add_argument("--bind")
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser("demo", help="two simulated calls (markup and stream), offline")
    demo.add_argument(
        "--engines",
        choices=["offline", "auto"],
        default="offline",
        help="offline (default) or auto: OpenAI when OPENAI_API_KEY is set",
    )
    demo.set_defaults(handler=_demo)

    def client_command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = with_config(commands.add_parser(name, help=help_))
        sub.add_argument("--server", help="control API base URL (default: from serve.bind/port)")
        sub.set_defaults(handler=_control)
        return sub

    call = client_command("call", "place an outbound call through the running server")
    call.add_argument("--to", help="E.164 number to call (default: toNumber from the config)")
    call.add_argument("--message", "-m")
    call.add_argument("--mode", choices=["notify", "conversation"])
    call.add_argument("--media", choices=["markup", "stream"])
    for name, help_ in (("status", "show one call"), ("end", "hang up a call")):
        client_command(name, help_).add_argument("call_id")
    speak = client_command("speak", "say something on a live call")
    speak.add_argument("call_id")
    speak.add_argument("text")
    client_command("calls", "list calls").add_argument("--active", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI command; returns the process exit code (2 for a config error)."""
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.command == "serve" else logging.WARNING
    configure_logging(level, "json" if os.environ.get("TELEPHONY_LOG_FORMAT") == "json" else "text")
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except TelephonyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
