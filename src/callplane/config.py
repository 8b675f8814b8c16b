"""Settings, read from `CALLPLANE_*` environment variables (and an optional `.env` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLPLANE_", env_file=".env", extra="ignore")

    #: `sqlite:///path/to/file.db` or `postgresql://user@host/db`; the driver is chosen for you.
    database_url: str = "sqlite:///callplane.db"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "info"

    #: First start on an empty database creates a demo organisation. These fix its credentials
    #: for scripted setups instead of generating them.
    bootstrap_api_key: str | None = None
    bootstrap_key_id: str | None = None
    bootstrap_key_secret: str | None = None
    #: Write the demo credentials to this file as well (mode 600) so scripts can pick them up.
    bootstrap_credentials_file: Path | None = None

    #: Page-number dialects (Zudu, Vocode) refuse pages past this many rows; use filters or cursors.
    max_offset: int = Field(default=10_000, ge=100)

    #: Run a worker inside `callplane serve` (set false when workers run as their own processes).
    embedded_worker: bool = True

    #: The simulated line's callee scripts (JSON, see engine/live/telephony/scenarios.py); tried before
    #: the built-in ones.
    simulator_scenarios: Path | None = None
    #: How much faster than people the simulated line talks and rings (1 = real-time pacing).
    simulator_speed: float = Field(default=4.0, gt=0, le=1000)

    #: Default OpenAI-compatible chat-completions endpoint for LLM agents and the LLM analyser.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    #: Analyse finished calls with that endpoint (when set); false keeps the offline analyser.
    analysis_with_llm: bool = True
    #: Let agents' HTTP tools reach loopback and private addresses (development only).
    allow_private_tool_urls: bool = False

    #: Worker tunables. A live call's lease is renewed every heartbeat; a call whose lease runs
    #: out (its worker died) is ended by any worker's reaper within about one reaper interval.
    worker_capacity: int = Field(default=50, ge=1)  #: live calls per worker
    worker_lease_s: float = Field(default=30.0, gt=0)
    worker_heartbeat_s: float = Field(default=5.0, gt=0)
    worker_poll_interval_s: float = Field(default=1.0, gt=0)
    worker_reaper_interval_s: float = Field(default=5.0, gt=0)
    #: On stop, live calls get this long to finish before they are ended as errors.
    worker_shutdown_grace_s: float = Field(default=10.0, ge=0)

    #: Webhook delivery: per-attempt timeout, and whether customer URLs may point at loopback or
    #: private addresses (off by default: such URLs are refused; turn on for local receivers).
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    webhook_allow_private: bool = False
    #: Finished webhook deliveries (and their attempts and events) are deleted this many days
    #: after they finished; 0 keeps them for ever. Pending deliveries are never deleted.
    webhook_retention_days: float = Field(default=30.0, ge=0)
