"""``segarena team``: create, join, show and leave a team of a challenge."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from challenge.cli.client import Api, JsonOption, TokenOption, UrlOption
from challenge.cli.output import out, print_json, success
from challenge.cli.sanitize import shown

team_app = typer.Typer(help="Teams: create one, join one with an invite code, leave it.",
                       no_args_is_help=True)


def _show(team: dict[str, Any]) -> None:
    console = out()
    console.print(f"team [bold]{shown(team['name'])}[/] (id {team['id']}) of challenge "
                  f"{shown(team['challenge_slug'])}, {team['n_members']} member(s)")
    if "members" in team:
        console.print(f"members: {shown(', '.join(team['members']))}")
        console.print(f"invite code: [bold]{shown(team['invite_code'])}[/] (share it with "
                      "your teammates: `segarena team join "
                      f"{shown(team['challenge_slug'])} {shown(team['invite_code'])}`)",
                      soft_wrap=True)


@team_app.command("create")
def create(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    name: Annotated[str, typer.Argument(help="team name, unique in the challenge")],
    url: UrlOption = None, token: TokenOption = None, json: JsonOption = False,
) -> None:
    """Create a team; you become its first member and get its invite code."""
    team = Api(url, token).post(f"/challenges/{challenge}/teams", json={"name": name})
    if json:
        print_json(team)
        return
    success("team created")
    _show(team)


@team_app.command("join")
def join(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    invite_code: Annotated[str, typer.Argument(help="the code a team member shared")],
    url: UrlOption = None, token: TokenOption = None, json: JsonOption = False,
) -> None:
    """Join a team of a challenge with its invite code."""
    team = Api(url, token).post(f"/challenges/{challenge}/teams/join",
                                json={"invite_code": invite_code})
    if json:
        print_json(team)
        return
    success(f"joined team [bold]{shown(team['name'])}[/]")
    _show(team)


@team_app.command("show")
def show(team_id: Annotated[int, typer.Argument(help="team id")],
         url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Members and invite code of your team (organizers see any team)."""
    team = Api(url, token).get(f"/teams/{team_id}")
    if json:
        print_json(team)
        return
    _show(team)


@team_app.command("leave")
def leave(team_id: Annotated[int, typer.Argument(help="team id")],
          url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Leave a team."""
    team = Api(url, token).post(f"/teams/{team_id}/leave")
    if json:
        print_json(team)
        return
    success(f"left team [bold]{shown(team['name'])}[/] ({team['n_members']} member(s) left)")
