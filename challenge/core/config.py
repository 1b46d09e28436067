"""Settings: the one place segarena reads its configuration from (env prefix ``SEGARENA_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from evaluator.sandbox.archive_stream import DEFAULT_UPLOAD_LIMIT

DEV_SECRET = "segarena-development-secret-do-not-use-in-production"


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
    auth_failures_per_minute: int = Field(default=30, gt=0)

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
