"""One settings object for the whole process, read from GANSU_HEALTH_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = Path("var") / "gansu-health.db"


class Settings(BaseSettings):
    """Deployment settings; a node is the provincial centre or one municipal data centre."""

    model_config = SettingsConfigDict(env_prefix="GANSU_HEALTH_", env_file=".env", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_DB}", description="SQLAlchemy URL")
    node_id: str = Field(default="620000", description="data centre that owns rows written here")
    base_url: str = Field(default="http://127.0.0.1:8000/fhir", description="public FHIR base")
    timezone: str = Field(default="Asia/Shanghai", description="zone for dates without offset")
    default_page_size: int = 20
    max_page_size: int = 1000
    max_bundle_entries: int = 10_000
    max_body_bytes: int = 64 * 1024 * 1024
    max_include: int = 1000
    strict_search_default: bool = False
    sqlite_busy_timeout_ms: int = 30_000
    db_pool_size: int = 10
    booking_engine: str = Field(
        default="", description="Unix socket of the booking engine process that books every "
                                "worker's claims together (set by `serve` on PostgreSQL)")
    booking_engine_key: str = Field(default="", description="the engine's handshake key (hex)")
    request_threads: int = Field(
        default=40, ge=1, description="worker threads per process serving requests that use the "
                                      "database (the pool should hold at least as many)")
    # a liveness round trip before each pooled connection is used; off by default (one failed
    # request after a database restart invalidates the pool), on for flaky networks
    db_pool_pre_ping: bool = False
    event_delivery_s: float = Field(
        default=0.5, description="outbox delivery and job interval of the app; 0: none here")
    event_busy_requests: int = Field(
        default=16, description="requests in flight from which event delivery waits; 0: never")
    event_max_wait_s: float = Field(
        default=5.0, description="the longest event delivery waits for a burst to pass")
    sql_echo: bool = False
    security_enabled: bool = Field(
        default=True, description="require a token and enforce scopes; off only to benchmark")
    access_token_ttl_s: int = 3600
    token_cache_s: float = Field(
        default=2.0, description="how long a resolved token is remembered (0: never)")
    audit_flush_ms: int = Field(
        default=50, description="batch interval of request audit rows; 0 writes each at once")
    refresh_token_ttl_s: int = 30 * 24 * 3600
    key_file: Path = Field(default=Path("var") / "keys.json",
                           description="SM4/HMAC-SM3 key ring, created 0600 on first use")
    key_provider: str = Field(
        default="file", description='"file" (key_file) or "module:Class" of a KMS KeyProvider')
    field_encryption: bool = Field(
        default=True, description="seal resident ids, phones and street addresses at rest")
    sms_gateway: str = Field(
        default="log", description='"log" (development sink) or "module:Class" of a gateway')
    client_quota_per_minute: int = Field(
        default=60_000, description="requests per minute one API client may make")
    payment_gateway: str = Field(
        default="sandbox", description='"sandbox" or "module:Class" of a PaymentGateway')
    payment_callback_secret: str = Field(
        default="sandbox-callback-secret", description="HMAC-SM3 key of gateway callbacks")
    payment_gate: str = Field(
        default="citizen", description='who pays before $book: "citizen", "all" or "off"')
    notification_channels: str = Field(
        default="sink", description='"sink", or sms=module:Class,wechat=module:Class')
    card_dynamic_qr_ttl_s: int = Field(
        default=60, ge=10, le=600, description="lifetime of a dynamic e-health-card QR code")


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings()
