"""Settings, read from `CALLPLANE_*` environment variables (and an optional `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from callplane.domain import bounds


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLPLANE_", env_file=".env", extra="ignore", validate_by_name=True
    )

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

    #: Worker tunables. A live call's lease is renewed every heartbeat; a call whose lease runs
    #: out (its worker died) is ended by any worker's reaper within about one reaper interval.
    worker_capacity: int = Field(default=50, ge=1)  #: live calls per worker
    worker_lease_s: float = Field(default=30.0, gt=0)
    worker_heartbeat_s: float = Field(default=5.0, gt=0)
    worker_poll_interval_s: float = Field(default=1.0, gt=0)
    worker_reaper_interval_s: float = Field(default=5.0, gt=0)
    #: A fresh worker's start-up ramp (`WorkerConfig.claim_ramp_s`; 0: none).
    worker_claim_ramp_s: float = Field(default=1.0, ge=0)
    #: On SIGTERM/SIGINT, live calls get this long to finish before they are ended as errors:
    #: long enough for an ordinary phone call, so a rolling restart cuts none short. Give the
    #: orchestrator's kill timeout (Kubernetes terminationGracePeriodSeconds) a little more.
    worker_shutdown_grace_s: float = Field(default=600.0, ge=0)

    #: Webhook delivery: per-attempt timeout.
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    #: Finished webhook deliveries (and their attempts and events) are deleted this many days
    #: after they finished; 0 keeps them for ever. Pending deliveries are never deleted.
    webhook_retention_days: float = Field(default=30.0, ge=0)

    # Principals (issue 15) ------------------------------------------------------------------
    #: The operator's bearer token for `/operator/v1` (organisations, billing, limits, number
    #: ownership, caller-ID approval). Unset: that API is off and only the CLI is the operator.
    #: At least 32 characters: it holds every organisation's billing.
    operator_token: str | None = Field(default=None, min_length=32)

    # Outbound destinations (engine/egress.py) ---------------------------------------------------
    #: Let customer-supplied URLs (HTTP tools, webhooks, an agent's `llm.base_url`) be loopback,
    #: private or other internal addresses: development and local receivers only. The two
    #: settings it replaces still work as aliases.
    allow_private_destinations: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "CALLPLANE_ALLOW_PRIVATE_DESTINATIONS",
            "CALLPLANE_ALLOW_PRIVATE_TOOL_URLS",
            "CALLPLANE_WEBHOOK_ALLOW_PRIVATE",
        ),
    )

    # Rate limits (api/ratelimit.py) -------------------------------------------------------------
    #: Shared storage for the counters, e.g. `redis://127.0.0.1:6379/0`, so that several API
    #: processes count together; unset: each process counts in memory.
    redis_url: str | None = None
    #: Windows in the `limits` notation, `;` between them (why these: api/ratelimit.py).
    rate_limit_per_key: str = "50/second;1000/minute"
    rate_limit_per_organization: str = "100/second;3000/minute"
    #: Wrong credentials per source address; past it the address gets 429s before any lookup.
    rate_limit_auth_failures: str = "10/minute"

    #: Bounded work per request (see domain/bounds.py). A request body past this many bytes is
    #: refused with a 413 before it is read.
    max_body_bytes: int = Field(default=bounds.MAX_BODY_BYTES, ge=1024)
    #: The key list cursors are signed with; unset, every process reads the deployment's random
    #: secret from the database (written by migration 0007).
    cursor_secret: str | None = Field(default=None, min_length=16)

    # Speech (issue 10: engine/live/speech) ------------------------------------------------------
    #: The simulated callee speaks and listens through speech engines (audio frames on the line)
    #: instead of exchanging text; a scenario's `"audio": true|false` overrides it per number.
    simulator_audio: bool = False
    #: An OpenAI-compatible audio API root (`…/v1`): when set, `/audio/speech` and
    #: `/audio/transcriptions` there are the default engines; unset, the offline ones.
    speech_base_url: str | None = None
    speech_api_key: str | None = None
    speech_synthesis_model: str = "gpt-4o-mini-tts"
    speech_transcription_model: str = "gpt-4o-mini-transcribe"
    #: Ask the transcription endpoint for word timings (`response_format=verbose_json`,
    #: `timestamp_granularities[]=word`; Retell's `words`). Only for models that accept it —
    #: `whisper-1` and most self-hosted Whisper servers; OpenAI's gpt-4o transcribers refuse it.
    speech_word_timings: bool = False
    speech_voice: str = "alloy"
    #: Per-request timeout; an engine call is tried `speech_attempts` times within a turn.
    speech_timeout_s: float = Field(default=10.0, gt=0)
    speech_attempts: int = Field(default=3, ge=1, le=10)
    #: A turn's time for all the attempts of one speech request and the pauses between them.
    speech_budget_s: float = Field(default=20.0, gt=0)
    #: A streaming transcriber speaking Deepgram's `/v1/listen` WebSocket protocol; chosen with
    #: `CALLPLANE_SPEECH_TRANSCRIBER=deepgram`.
    speech_streaming_url: str = "wss://api.deepgram.com/v1/listen"
    speech_streaming_api_key: str | None = None
    speech_streaming_model: str = "nova-3"
    #: Engine names (engine/live/speech/registry.py) overriding the defaults above, e.g. `scripted`.
    speech_synthesizer: str | None = None
    speech_transcriber: str | None = None
    #: Voice activity: `webrtc` (the speech extra) or `energy` (no model; digital silence only).
    speech_vad: str = "webrtc"
    #: Silence that ends the callee's turn.
    speech_end_of_turn_ms: int = Field(default=700, ge=100, le=5000)
    #: Speech the callee must make before it counts as a turn — and, while the agent speaks, as
    #: barge-in (the agent stops): shorter, a cough or a click cuts the agent off; longer, the
    #: agent talks over the callee for that long.
    speech_barge_in_ms: int = Field(default=100, ge=20, le=2000)

    # Recordings (issue 10 §4: engine/blobs, engine/live/recorder.py) ------------------------------
    #: Where recordings are kept: `local` (a folder) or `s3` (S3-compatible object storage; needs
    #: `pip install 'callplane[s3]'`). Names come from engine/blobs (`BLOB_STORES`).
    recordings_store: str = "local"
    #: The local store's folder; unset: `recordings/` beside the SQLite file (or the working
    #: directory's `recordings/` on PostgreSQL).
    recordings_dir: Path | None = None
    #: The S3 store: bucket, optional key prefix, endpoint (unset: AWS itself; set it for MinIO,
    #: Ceph, R2, …), region and credentials (unset: boto3's own chain — environment, profile,
    #: instance role).
    recordings_s3_bucket: str | None = None
    recordings_s3_prefix: str = ""
    recordings_s3_endpoint_url: str | None = None
    recordings_s3_region: str | None = None
    recordings_s3_access_key_id: str | None = None
    recordings_s3_secret_access_key: str | None = None
    #: Recordings (the audio and the call's link to it) are deleted this many days after the call
    #: ended, by the worker and by `callplane recordings purge`; 0 keeps them for ever.
    recordings_retention_days: float = Field(default=0.0, ge=0)
    #: How long a `recording_url` stays fetchable without the API key once it was rendered.
    recordings_url_ttl_s: int = Field(default=86_400, ge=60, le=7 * 86_400)

    # Real calls (issue 11: engine/live/telephony/twilio) ----------------------------------------
    #: Twilio's account and key for numbers on the `twilio` provider; a call from such a number
    #: ends as an error, saying what is missing, while any of these three is unset.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    #: The REST API root: Twilio's, or a Twilio-compatible carrier's (or a local fake in tests).
    twilio_api_base: str = "https://api.twilio.com"
    #: The address clients and the carrier reach this deployment at (`https://calls.example.com`,
    #: behind a reverse proxy or a tunnel): status callbacks go to it, the media stream to its
    #: `wss://` twin, and recording links are minted against it. Unset: recording links use the
    #: request's own base URL, and a call from a `twilio` number ends as an error.
    public_url: str | None = None
    #: `callplane worker` serves the carrier's routes (callbacks, media streams, incoming calls)
    #: on this port, so each worker is reached at its own `CALLPLANE_PUBLIC_URL`; unset: none
    #: (`serve` serves them with the API).
    telephony_port: int | None = Field(default=None, ge=1, le=65535)

    # Operations (issue 14) ------------------------------------------------------------------------
    #: `text` (one readable line per record) or `json` (one JSON object per line, for a log
    #: pipeline); both carry the request id and call id when there is one.
    log_format: Literal["text", "json"] = "text"
    #: `callplane worker` serves Prometheus metrics on this port (all addresses); unset: no
    #: metrics server. The API (and `serve`'s embedded worker) expose theirs at `GET /metrics`.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
