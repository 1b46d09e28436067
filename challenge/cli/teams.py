"""``segarena team``: create, join, show and leave a team of a challenge; its captain rotates
the invite code and removes members; organizers move and remove members."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from challenge.cli.client import Api, JsonOption, LimitOption, TokenOption, UrlOption
from challenge.cli.output import note, out, print_json, success, when
from challenge.cli.sanitize import shown

team_app = typer.Typer(help="Teams: create one, join one with an invite code, leave it; "
                            "after a team's first submission only organizers change members.",
                       no_args_is_help=True)
TeamIdArgument = Annotated[int, typer.Argument(help="team id")]
UsernameArgument = Annotated[str, typer.Argument(help="the member's username")]


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


def _report(team: dict[str, Any], as_json: bool, message: str | None = None,
            details: bool = True) -> None:
    """What a team command prints: the server's JSON, or ``message`` (rich markup, already
    sanitized) followed by the team's details unless ``details`` is false."""
    if as_json:
        print_json(team)
        return
    if message is not None:
        success(message)
    if details:
        _show(team)


@team_app.command("create")
def create(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    name: Annotated[str, typer.Argument(help="team name, unique in the challenge")],
    url: UrlOption = None, token: TokenOption = None, json: JsonOption = False,
) -> None:
    """Create a team; you become its first member and get its invite code."""
    team = Api(url, token).post(f"/challenges/{challenge}/teams", json={"name": name})
    _report(team, json, "team created")


@team_app.command("list")
def list_(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    limit: LimitOption = None, url: UrlOption = None, token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """The teams of a challenge, by name (no members or invite codes)."""
    items = Api(url, token).get_all(f"/challenges/{quote(challenge, safe='')}/teams",
                                    limit=limit, auth=False)
    items.note_if_cut()
    if json:
        print_json(items)
        return
    if not items:
        note(f"challenge {shown(challenge)} has no teams yet")
        return
    table = Table(title=f"teams of {shown(challenge)}")
    for column in ("id", "name", "members", "created"):
        table.add_column(column)
    for t in items:
        table.add_row(str(t["id"]), shown(t["name"]), str(t["n_members"]), when(t["created_at"]))
    out().print(table)


@team_app.command("join")
def join(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    invite_code: Annotated[str, typer.Argument(help="the code a team member shared")],
    url: UrlOption = None, token: TokenOption = None, json: JsonOption = False,
) -> None:
    """Join a team of a challenge with its invite code (only before it has submitted)."""
    team = Api(url, token).post(f"/challenges/{challenge}/teams/join",
                                json={"invite_code": invite_code})
    _report(team, json, f"joined team [bold]{shown(team['name'])}[/]")


@team_app.command("show")
def show(team_id: Annotated[int, typer.Argument(help="team id")],
         url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Members and invite code of your team (organizers see any team)."""
    team = Api(url, token).get(f"/teams/{team_id}")
    _report(team, json)


@team_app.command("leave")
def leave(team_id: Annotated[int, typer.Argument(help="team id")],
          url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Leave a team (only before it has submitted; afterwards ask the organizers)."""
    team = Api(url, token).post(f"/teams/{team_id}/leave")
    _report(team, json, f"left team [bold]{shown(team['name'])}[/] "
                        f"({team['n_members']} member(s) left)", details=False)


@team_app.command("rotate-invite")
def rotate_invite(team_id: TeamIdArgument, url: UrlOption = None, token: TokenOption = None,
                  json: JsonOption = False) -> None:
    """Replace the team's invite code; the old one stops working (captain or organizers)."""
    team = Api(url, token).post(f"/teams/{team_id}/invite-code")
    _report(team, json, "new invite code; the old one no longer works")


@team_app.command("remove-member")
def remove_member(team_id: TeamIdArgument, username: UsernameArgument,
                  url: UrlOption = None, token: TokenOption = None,
                  json: JsonOption = False) -> None:
    """Remove a member: the captain before the team's first submission, organizers at any
    time. It frees no quota: submissions count against every team of their submitter."""
    api = Api(url, token)
    path = f"/teams/{team_id}/members/{quote(username, safe='')}"
    team = api.json(api.request("DELETE", path))
    _report(team, json,
            f"removed {shown(username)} from team [bold]{shown(team['name'])}[/]")


@team_app.command("move")
def move(username: UsernameArgument,
         team_id: Annotated[int, typer.Argument(help="id of the team to put them in")],
         url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Organizers: put a user in a team, out of their current team of the challenge. Their
    submissions count against both teams from then on."""
    team = Api(url, token).post(f"/teams/{team_id}/members", json={"username": username})
    _report(team, json, f"moved {shown(username)} to team [bold]{shown(team['name'])}[/]")
