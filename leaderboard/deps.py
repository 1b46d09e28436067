"""Typed dependencies of the leaderboard routes (API and pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from leaderboard.cache import LeaderboardCache


async def get_leaderboard_cache(request: Request) -> LeaderboardCache:
    """The application's leaderboard cache (one per app, made by ``create_app``)."""
    return request.app.state.leaderboard_cache


LeaderboardCacheDep = Annotated[LeaderboardCache, Depends(get_leaderboard_cache)]
