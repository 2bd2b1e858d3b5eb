"""Deployment policy of the master patient index, read from GANSU_HEALTH_MPI_* variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

EMPI_SYSTEM = "https://gansu-health.cn/fhir/sid/empi"


class MpiSettings(BaseSettings):
    """How the MPI treats identities and candidates on this node."""

    model_config = SettingsConfigDict(env_prefix="GANSU_HEALTH_MPI_", env_file=".env",
                                      extra="ignore")

    enabled: bool = Field(default=True, description="run the MPI on Patient writes")
    identity_policy: Literal["reject", "flag"] = Field(
        default="reject",
        description="invalid resident id: reject with 400, or store it tagged unverified-identity")
    max_candidates: int = Field(default=200, description="source records scored per lookup")
    match_count: int = Field(default=10, description="default $match count")
