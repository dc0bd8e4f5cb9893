"""Settings from the environment (prefix `TERMSHIFT_`); secrets never appear in `repr`."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERMSHIFT_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    """Where the embedded stack keeps its SQLite files."""
    database_url: SecretStr | None = None
    """SQLAlchemy URL of the billing database; default: a SQLite file in `data_dir`."""
    task_queue: str = "termshift-contracts"
    temporal_profile: str | None = None
    """Profile of Temporal's environment configuration (TEMPORAL_* variables, temporal.toml)."""
    payload_key: SecretStr | None = None
    """Base64 of the 32-byte AES-256 key that encrypts workflow payloads (TERMSHIFT_PAYLOAD_KEY)."""
    payload_key_file: Path | None = None
    """A file holding that base64 key instead (TERMSHIFT_PAYLOAD_KEY_FILE)."""

    def billing_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'termshift.db'}"
