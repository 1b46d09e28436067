"""Accounts: ``login``, ``whoami``, ``signup``, ``user create`` and ``account set-password``."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from challenge.cli import config
from challenge.cli.client import Api, JsonOption, TokenOption, UrlOption
from challenge.cli.output import note, out, print_json, show_token, success
from challenge.cli.sanitize import shown

user_app = typer.Typer(help="Manage accounts (admin).", no_args_is_help=True)
account_app = typer.Typer(help="Your own account.", no_args_is_help=True)


class RoleChoice(StrEnum):
    organizer = "organizer"
    participant = "participant"
    admin = "admin"


SaveOption = Annotated[bool | None, typer.Option(
    "--save/--no-save", help="save the new token to the CLI config (asked when interactive)",
    show_default=False)]


def _offer_save(api: Api, created: dict[str, Any], save: bool | None, default: bool) -> None:
    username = created["user"]["username"]
    if save is None and sys.stdin.isatty():
        save = typer.confirm(f"Save this token as the CLI's token for {api.url}?",
                             default=default)
    if save:
        path = config.save_token(api.url, created["token"], username=username)
        note(f"saved for {api.url} in {path}")
    else:
        note("not saved: use it with `segarena login --url URL --token TOKEN` or SEGARENA_TOKEN")


def login(
    token: Annotated[str, typer.Option("--token", help="API token", prompt=True,
                                       hide_input=True)],
    url: UrlOption = None,
) -> None:
    """Check a token against the server and save it (mode 0600) as the default for --url."""
    api = Api(url, token)
    me = api.get("/me")
    path = config.save_token(api.url, token, username=me["username"])
    success(f"logged in to {shown(api.url)} as [bold]{shown(me['username'])}[/] "
            f"({me['role']}); token saved in {path}")


def whoami(url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Show the account behind the current token."""
    api = Api(url, token)
    me = api.get("/me")
    if json:
        print_json({**me, "url": api.url})
        return
    out().print(f"[bold]{shown(me['username'])}[/] ({me['role']}, id {me['id']}) "
                f"on {shown(api.url)}")


def signup(
    username: Annotated[str, typer.Argument(help="2-64 letters, digits, _ . -")],
    email: Annotated[str | None, typer.Option(help="contact e-mail")] = None,
    save: SaveOption = None,
    url: UrlOption = None,
    json: JsonOption = False,
) -> None:
    """Create a participant account; its API token is printed once."""
    api = Api(url)
    api.token = None  # signing up is anonymous: never send a saved token along
    body: dict[str, Any] = {"username": username}
    if email:
        body["email"] = email
    created = api.post("/users", json=body, auth=False)
    if json:
        print_json(created)
    else:
        success(f"created participant [bold]{shown(created['user']['username'])}[/]")
        show_token(created["token"], created["user"]["username"])
    _offer_save(api, created, save, default=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="2-64 letters, digits, _ . -")],
    role: Annotated[RoleChoice, typer.Option(help="account role")] = RoleChoice.organizer,
    email: Annotated[str | None, typer.Option(help="contact e-mail")] = None,
    save: SaveOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Create an account with any role (admin only); its API token is printed once."""
    api = Api(url, token)
    body: dict[str, Any] = {"username": username, "role": role.value}
    if email:
        body["email"] = email
    created = api.post("/admin/users", json=body)
    if json:
        print_json(created)
    else:
        success(f"created {created['user']['role']} "
                f"[bold]{shown(created['user']['username'])}[/]")
        show_token(created["token"], created["user"]["username"])
    _offer_save(api, created, save, default=False)


@account_app.command("set-password")
def set_password(
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read the password from the first line of standard input "
        "(for scripts) instead of prompting twice")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Set or replace the password the account behind your token signs in to the web app
    with (an account an admin created has none): 10-256 characters."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True,
                                confirmation_prompt="Repeat the password")
    api = Api(url, token)
    me = api.json(api.request("PUT", "/me/password", json={"password": password}))
    success(f"password set for [bold]{shown(me['username'])}[/]: sign in at "
            f"{shown(api.url)}/signin")
