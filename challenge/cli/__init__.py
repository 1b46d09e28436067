"""The ``segarena`` command line: a thin client of the HTTP API (plus ``init``/``serve``).

Every command takes ``--url`` (env ``SEGARENA_URL``) and, when it needs one, ``--token`` (env
``SEGARENA_TOKEN``; otherwise the token ``segarena login`` saved for that URL). Errors print one
red line on stderr and exit with status 1. See docs/CLI.md.
"""

from __future__ import annotations

import typer

from challenge.cli import accounts, demo, headers, local, server, sites, submissions, synth
from challenge.cli.challenges import challenge_app
from challenge.cli.datasets import dataset_app
from challenge.cli.leaderboard import leaderboard
from challenge.cli.teams import team_app

app = typer.Typer(
    name="segarena",
    help="segarena: organized segmentation challenges (MS lesion MRI) from the command line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command(rich_help_panel="Server")(server.init)
app.command(rich_help_panel="Server")(server.serve)
app.command(rich_help_panel="Server")(local.worker)
app.command(rich_help_panel="Server")(demo.demo)
app.command(name="site-worker", rich_help_panel="Server")(sites.site_worker)
app.command(rich_help_panel="Accounts")(accounts.login)
app.command(rich_help_panel="Accounts")(accounts.whoami)
app.command(rich_help_panel="Accounts")(accounts.signup)
app.add_typer(accounts.user_app, name="user", rich_help_panel="Accounts")
app.add_typer(accounts.account_app, name="account", rich_help_panel="Accounts")
app.add_typer(challenge_app, name="challenge", rich_help_panel="Organizers")
dataset_app.command("synth")(synth.synth)
dataset_app.command("check")(headers.check)
app.add_typer(dataset_app, name="dataset", rich_help_panel="Organizers")
app.add_typer(sites.site_app, name="site", rich_help_panel="Organizers")
app.add_typer(team_app, name="team", rich_help_panel="Participants")
app.command(rich_help_panel="Participants")(submissions.submit)
app.command(rich_help_panel="Participants")(submissions.status)
app.command(rich_help_panel="Participants")(submissions.cancel)
app.command(rich_help_panel="Organizers")(submissions.logs)
app.command(name="test-container", rich_help_panel="Participants")(local.test_container)
app.command(rich_help_panel="Results")(leaderboard)

__all__ = ["app"]
