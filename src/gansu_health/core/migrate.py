"""Run Alembic migrations from inside the package (no alembic.ini needed)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from gansu_health.core.settings import get_settings


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", "gansu_health:migrations")
    cfg.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    cfg.set_main_option("file_template",
                        "%%(year)d-%%(month).2d-%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Migrate the database down to ``revision``."""
    command.downgrade(alembic_config(url), revision)
