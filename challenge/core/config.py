"""Settings: the one place segarena reads its configuration from (env prefix ``SEGARENA_``)."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from challenge.core.text import check_name
from evaluator.sandbox.archive_stream import DEFAULT_UPLOAD_LIMIT

DEV_SECRET = "segarena-development-secret-do-not-use-in-production"
#: Loopback names, and the Host header of Starlette's test client.
DEFAULT_TRUSTED_HOSTS = ("127.0.0.1", "localhost", "[::1]", "testserver")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_PATTERN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\]")


def _split(value: object) -> tuple[str, ...]:
    """A comma-separated string (from the environment) or a sequence, as lowercase items."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a comma-separated list")
    return tuple(str(item).strip().lower() for item in items if str(item).strip())


class Settings(BaseSettings):
    """Validated at start. Every field can be set as ``SEGARENA_<FIELD>``.

    ``environment`` other than ``development``/``test`` refuses the default secret key, so a
    production deployment cannot start with a guessable secret.
    """

    model_config = SettingsConfigDict(env_prefix="SEGARENA_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./.segarena/segarena.db"
    storage_root: Path = Path(".segarena/storage")
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    worker_mode: Literal["thread", "celery", "off"] = "thread"
    worker_concurrency: int = Field(default=1, ge=0, le=64)
    broker_url: str = "redis://127.0.0.1:6379/0"
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    reaper_grace_seconds: float = Field(default=60.0, gt=0)
    max_platform_retries: int = Field(default=3, ge=0, le=20)
    image_retention: Literal["keep", "remove_after_run"] = "keep"

    max_submission_bytes: int = Field(default=DEFAULT_UPLOAD_LIMIT, gt=0)
    max_dataset_bytes: int = Field(default=16 * 1024**3, gt=0)
    max_case_voxels: int = Field(default=512 * 512 * 512, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0,
                                description="cap on every request body but uploads (bytes)")
    auth_failures_per_minute: int = Field(default=30, gt=0)

    # The web app's sign-in sessions (challenge/web/sessions.py).
    #: How long a browser stays signed in after signing in, in hours (then it signs in again).
    web_session_hours: int = Field(default=168, ge=1, le=24 * 90)
    #: Failed password sign-ins allowed per account (user name, up to case and look-alikes)
    #: in ``signin_account_window_seconds``; then the account's sign-in is refused (429).
    signin_failures_per_account: int = Field(default=10, gt=0)
    signin_account_window_seconds: float = Field(default=15 * 60, gt=0)
    #: Failed password sign-ins allowed per client address in
    #: ``signin_address_window_seconds``; then sign-in from that address is refused (429).
    signin_failures_per_address: int = Field(default=30, gt=0)
    signin_address_window_seconds: float = Field(default=60, gt=0)
    #: Where the pages' JavaScript packages are (``npm ci`` of ``package-lock.json``,
    #: ``scripts/provision.sh``); None: ``<source tree>/node_modules``.
    assets_dir: Path | None = None
    #: Resumable uploads (``challenge/uploads``): unfinished uploads a person may have at once,
    #: and the hours an unfinished upload is kept before its bytes are removed.
    max_open_uploads: int = Field(default=3, ge=1, le=100)
    upload_expiry_hours: float = Field(default=24.0, gt=0, le=24 * 30)

    # Single sign-on with OpenID Connect (challenge/web/oidc.py); off while the issuer is unset.
    #: The provider's issuer URL, exactly as its ID tokens name it (discovery is read from
    #: ``<issuer>/.well-known/openid-configuration``).
    oidc_issuer: str | None = Field(default=None, max_length=500)
    oidc_client_id: str = Field(default="", max_length=500)
    oidc_client_secret: SecretStr = SecretStr("")
    #: The provider's name on the sign-in page: "Sign in with <name>".
    oidc_name: str = Field(default="single sign-on", min_length=1, max_length=100)
    #: Space-separated scopes asked for; must include ``openid``.
    oidc_scopes: str = Field(default="openid profile email", max_length=500)

    # Leaderboard caching (leaderboard/freshness.py, leaderboard/http_cache.py).
    #: How long a server process trusts what it last read of a phase (its row, its
    #: challenge's and its results fingerprint) before reading it again, in seconds; 0 reads
    #: on every request. On PostgreSQL a NOTIFY also ends it early.
    leaderboard_recheck_seconds: float = Field(default=1.0, ge=0, le=3600)
    #: ``Cache-Control: max-age`` of leaderboards anyone may see, in seconds.
    leaderboard_max_age: int = Field(default=5, ge=0, le=86400)
    #: ``stale-while-revalidate`` of the same responses, in seconds.
    leaderboard_stale_while_revalidate: int = Field(default=30, ge=0, le=86400)

    # HTTP edges (challenge/core/http_edges.py), comma-separated in the environment.
    #: Host names this server answers to (``*.example.org`` for subdomains); a request for
    #: another Host is a 400 and no redirect ever names one.
    trusted_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_TRUSTED_HOSTS
    #: Peers (addresses or networks) whose X-Forwarded-For / -Proto are believed; none by
    #: default, so the client is the TCP peer.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _host_patterns(cls, value: object) -> tuple[str, ...]:
        hosts = _split(value)
        for host in hosts:
            if not _HOST_PATTERN.fullmatch(host):
                raise ValueError(f"SEGARENA_TRUSTED_HOSTS: {host[:100]!r} is not a host name, "
                                 "an IP address or '*.domain' (no '*', scheme or port)")
        return hosts

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> tuple[str, ...]:
        proxies = _split(value)
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ValueError(f"SEGARENA_TRUSTED_PROXIES: {proxy[:100]!r} is not an IP "
                                 "address or network") from exc
        return proxies

    @field_validator("oidc_issuer", mode="before")
    @classmethod
    def _issuer_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # SEGARENA_OIDC_ISSUER= (empty) turns single sign-on off
        if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?",
                                                          value):
            raise ValueError("SEGARENA_OIDC_ISSUER must be an http(s) URL without query, "
                             "fragment or white space")
        return value

    @field_validator("oidc_name")
    @classmethod
    def _oidc_name(cls, value: str) -> str:
        return check_name(value, max_length=100, what="SEGARENA_OIDC_NAME")

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        if not self.oidc_client_id:
            raise ValueError("SEGARENA_OIDC_CLIENT_ID must be set with SEGARENA_OIDC_ISSUER")
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("SEGARENA_OIDC_SCOPES must include 'openid'")
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "SEGARENA_SECRET_KEY must be set to a private value when "
                "SEGARENA_ENVIRONMENT=production"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
