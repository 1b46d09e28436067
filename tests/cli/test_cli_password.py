"""``segarena account set-password``: an admin-created organizer gets a web sign-in password."""

from __future__ import annotations

import re

import httpx

from tests.cli.conftest import World


def _signs_in(url: str, username: str, password: str) -> bool:
    with httpx.Client(base_url=url, timeout=30) as browser:
        form = browser.get("/signin").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        answer = browser.post("/signin", data={"username": username, "password": password,
                                               "csrf_token": token})
        return answer.status_code == 303 and answer.headers["location"] == "/account"


def test_set_password_prompts_twice_and_lets_the_organizer_sign_in(world: World) -> None:
    password = "organizer pass 1"
    result = world.cli("account", "set-password", token=world.tokens["ola"],
                       input=f"{password}\n{password}\n")
    assert result.exit_code == 0, result.output
    assert "password set for ola" in result.stdout
    assert password not in result.stdout
    assert _signs_in(world.server.url, "ola", password)


def test_set_password_reads_stdin_and_refuses_a_short_one(world: World) -> None:
    short = world.cli("account", "set-password", "--password-stdin",
                      token=world.tokens["ola"], input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    ok = world.cli("account", "set-password", "--password-stdin",
                   token=world.tokens["ola"], input="from standard input\n")
    assert ok.exit_code == 0, ok.output
    assert _signs_in(world.server.url, "ola", "from standard input")
