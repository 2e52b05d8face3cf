"""`ivr console`: the hotline console web app; `ivr console user add|list|passwd|role|disable|
enable|remove`: manage its logins."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import sys
from pathlib import Path

from ivr.cli.runtime import DEFAULT_DIALPLAN
from ivr.errors import IvrError
from ivr.store.store import CallStore, default_url, display_url

DEFAULT_PORT = 8060  # `ivr serve` puts its console on the SIP port + 3000: 5060 -> 8060


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "console", help="the web console: calls, recordings, dialplans",
        description="Serve the hotline console: the call list and call view (recording with "
                    "the transcript following it, decisions, tickets) for QA, and dialplan "
                    "editing with validation, diff, history and rollback for admins. Every "
                    "page needs a login: create one with `ivr console user add`.")
    _store_options(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s). Session cookies are "
                             "Secure: on any other address, give --certfile/--keyfile")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="TCP port (default: %(default)s)")
    parser.add_argument("--dialplans", type=Path, default=DEFAULT_DIALPLAN.parent,
                        help="folder of the dialplan YAML files admins may edit (default: "
                             "%(default)s)")
    parser.add_argument("--certfile", type=Path, help="TLS certificate (PEM) to serve HTTPS")
    parser.add_argument("--keyfile", type=Path, help="TLS private key (PEM) of --certfile")
    parser.set_defaults(func=run_console)
    commands = parser.add_subparsers(dest="console_command", metavar="user")
    user = commands.add_parser("user", help="manage console logins")
    actions = user.add_subparsers(dest="user_command",
                                  metavar="add|list|passwd|role|disable|enable|remove",
                                  required=True)
    add = actions.add_parser("add", help="create a user",
                             description="Create a console user. The password is asked twice "
                                         "(or read from one line of stdin with "
                                         "--password-stdin) and stored as an argon2 hash.")
    add.add_argument("name")
    add.add_argument("--role", choices=["admin", "qa"], required=True,
                     help="admin: everything, dialplans included; qa: calls and recordings")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from stdin (one line) instead of a prompt")
    _store_options(add)
    add.set_defaults(func=run_user_add)
    listing = actions.add_parser("list", help="every user: role, state, live sessions")
    _store_options(listing)
    listing.set_defaults(func=run_user_list)
    for name, helps in USER_CHANGES.items():
        change = actions.add_parser(name, help=helps)
        change.add_argument("name")
        if name == "role":
            change.add_argument("role", choices=["admin", "qa"])
        if name == "passwd":
            change.add_argument("--password-stdin", action="store_true",
                                help="read the password from stdin (one line) instead of a "
                                     "prompt")
        _store_options(change)
        change.set_defaults(func=run_user_change)


USER_CHANGES = {
    "passwd": "set a new password (asked twice, or --password-stdin); ends their sessions",
    "role": "change a user's role (the last enabled admin stays admin)",
    "disable": "stop a user logging in; ends their sessions at once",
    "enable": "let a disabled user log in again",
    "remove": "delete a user and their sessions (never the last enabled admin)",
}


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", default=None,
                        help="call store URL or SQLite file (default: calls.db in --recordings)")
    parser.add_argument("--recordings", type=Path, default=Path("recordings"),
                        help="the recordings folder of `ivr serve` (default: %(default)s); "
                             "recordings are only served from inside it")


def _store_url(args: argparse.Namespace) -> str:
    return args.store or default_url(args.recordings)


def read_password(from_stdin: bool) -> str:
    """The new user's password: one line of stdin, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise IvrError("the two passwords differ; nothing was changed")
    return first


def run_user_add(args: argparse.Namespace) -> int:
    from ivr.web.accounts import Accounts

    password = read_password(args.password_stdin)
    store = CallStore.open(_store_url(args))
    try:
        Accounts(store.engine).add_user(args.name, args.role, password)
    finally:
        store.close()
    print(f"user {args.name} ({args.role}) added to {display_url(_store_url(args))}")
    return 0


def run_user_list(args: argparse.Namespace) -> int:
    from ivr.web.user_admin import UserAdmin

    store = CallStore.open(_store_url(args))
    try:
        users = UserAdmin(store.engine).users()
    finally:
        store.close()
    print(f"{'name':<24} {'role':<6} {'state':<22} sessions")
    for user in users:
        state = ("disabled" if user.disabled else
                 f"locked until {user.locked_until:%Y-%m-%d %H:%M}" if user.locked else "active")
        print(f"{user.name:<24} {user.role:<6} {state:<22} {user.sessions}")
    return 0


def run_user_change(args: argparse.Namespace) -> int:
    from ivr.web.user_admin import UserAdmin

    command = "password" if args.user_command == "passwd" else args.user_command
    value = (read_password(args.password_stdin) if command == "password"
             else getattr(args, "role", ""))
    store = CallStore.open(_store_url(args))
    try:
        done = UserAdmin(store.engine).apply(command, args.name, value)
    finally:
        store.close()
    print(f"user {args.name} {done}")
    return 0


def run_console(args: argparse.Namespace) -> int:
    import uvicorn

    from ivr.web.accounts import Accounts
    from ivr.web.app import ConsoleSettings, create_app

    if not args.dialplans.is_dir():
        raise IvrError(f"--dialplans {args.dialplans}: not a folder")
    if (args.certfile is None) != (args.keyfile is None):
        raise IvrError("give both --certfile and --keyfile, or neither")
    tls = args.certfile is not None
    if not tls and not _is_loopback(args.host):
        raise IvrError(f"--host {args.host}: browsers keep the console's Secure session cookie "
                       "only over HTTPS or on 127.0.0.1; give --certfile and --keyfile")
    url = _store_url(args)
    store = CallStore.open(url)
    app = create_app(ConsoleSettings(url, args.dialplans.resolve(), args.recordings.resolve()),
                     store)
    scheme = "https" if tls else "http"
    print(f"ivr console on {scheme}://{args.host}:{args.port}/ (store {display_url(url)}, "
          f"dialplans {args.dialplans.resolve()})", flush=True)
    if Accounts(store.engine).count() == 0:
        print("  no user yet: create one with  ivr console user add NAME --role admin"
              + (f" --store {args.store}" if args.store else ""), flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                    ssl_certfile=str(args.certfile) if tls else None,
                    ssl_keyfile=str(args.keyfile) if tls else None)
    finally:
        store.close()
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
