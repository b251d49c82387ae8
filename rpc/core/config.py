"""Settings from the environment (and `.env`), validated by pydantic."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_UPLOAD_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "video/webm",
    "audio/mpeg", "text/plain", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_prefix="LMS_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    """A role that may migrate (the owner or a superuser). Unset: the embedded cluster."""
    server_database_url: str | None = None
    """How the server connects (as lms_authenticator). Default: DATABASE_URL with that user."""
    authenticator_password: SecretStr | None = None

    environment: Literal["production", "development"] = "production"
    """`lms serve` in production refuses a random JWT key, the local payment provider and a relative
    LMS_HOME (`production_problems`); `development` (or `--demo`) serves anyway."""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(default=1, ge=1, le=64)
    """Server processes sharing the port (`lms serve --workers N`)."""
    jwt_secret: SecretStr | None = None
    """HS256 key. Unset: a random key kept in .lms/jwt_secret (development only)."""
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    pool_min_size: int = Field(default=4, ge=1)
    pool_max_size: int = Field(default=8, ge=1)
    pool_timeout_ms: int = Field(default=5000, ge=100)
    """How long a call waits for a pooled connection when all are busy; then -32000 (retry)."""
    pipeline_lanes: int | None = Field(default=None, ge=1)
    """Pooled connections that may carry shared pipelines of read-only calls at once (rpc/db/calls.py CallGroups).
    Unset: a quarter of LMS_POOL_MAX_SIZE (at least 1). About PostgreSQL's cores: more lanes than cores
    only leave backends waiting for a CPU with whole pipelines in hand (the p99 grows)."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_size: int = Field(default=50, ge=1)
    statement_timeout_ms: int = Field(default=5000, ge=100)
    """statement_timeout of every call (as lms_api): nothing an outside session holds stalls the server longer."""
    lock_timeout_ms: int = Field(default=2000, ge=50)
    """lock_timeout of every call: a lock held elsewhere fails the call (409 lock_not_available) instead."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses/CIDRs of reverse proxies whose X-Forwarded-For names the client (a JSON list, e.g. ["10.0.0.0/8"])."""
    public_url: str | None = None
    """The server's public base URL (e.g. https://lms.example.org): rpc.discover names POST {public_url}/rpc.
    Unset: built from each request's scheme and host (a trusted proxy's X-Forwarded-Proto/-Host honoured)."""
    password_hash_concurrency: int = Field(default=1, ge=1, le=64)
    """Calls of password-hashing methods (@cost >= 10) running at once per server process; the rest queue."""
    home: Path = Path(".lms")
    outbox_dir: Path | None = None
    smtp_url: str | None = None
    mail_from: str = "no-reply@lms.localhost"
    stripe_api_key: SecretStr | None = None
    """Stripe secret key (sk_…): payment intents and refunds through Stripe. Unset: the local provider."""
    stripe_webhook_secret: SecretStr | None = None
    """Signing secret of POST /webhooks/stripe (whsec_…). Unset: generated once, kept in LMS_HOME."""
    stripe_api_base: str | None = None
    """Base URL of the Stripe API (default Stripe's own; a stub's for tests)."""

    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    """POST /files: larger uploads are cut off with HTTP 413 (nothing kept)."""
    file_quota_bytes: int = Field(default=1024 * 1024 * 1024, ge=0)
    """Bytes of files one user may have uploaded in all (422 quota_exceeded past it)."""
    upload_allowed_types: list[str] = Field(default_factory=lambda: list(DEFAULT_UPLOAD_TYPES))
    """MIME types POST /files accepts, judged from the leading bytes (a JSON list)."""
    upload_grace_seconds: int = Field(default=3600, ge=60)
    """An upload whose row is not written after this long is a stray: `lms db maintain` removes its bytes."""
    files_dir: Path | None = None
    """Local storage of uploaded files. Unset: LMS_HOME/files."""
    s3_bucket: str | None = None
    """S3-compatible storage of new uploads (rpc/workers/storage.py S3Storage). Unset: local storage. Credentials
    and region come from the usual AWS settings (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
    AWS_DEFAULT_REGION, instance/task roles…)."""
    s3_endpoint_url: str | None = None
    """Endpoint of an S3-compatible server (MinIO, Ceph, moto…; path-style addressing). Unset: AWS S3."""

    webhooks_allow_private_urls: bool = False
    """Deliver webhooks to loopback, link-local and private addresses too (tests, development only)."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """Each webhook POST: connect and read within this many seconds (else a failed attempt)."""
    webhook_retry_hours: float = Field(default=24.0, gt=0)
    """A delivery is retried with back-off for this long after it was queued, then marked failed."""
    webhook_disable_after_hours: float = Field(default=120.0, gt=0)
    """A subscription failing for this long (no success since) is disabled and its creator emailed."""
    event_retention_days: int = Field(default=90, ge=1, le=36500)
    """`lms db maintain` deletes events (and their deliveries) older than this."""
    xapi_endpoint: str | None = None
    """The Learning Record Store's xAPI base URL (e.g. https://lrs.example.org/xAPI): `lms xapi deliver`
    posts each learner event to {xapi_endpoint}/statements as an xAPI 1.0.3 statement. Unset: no xAPI."""
    xapi_username: str | None = None
    """The LRS's HTTP Basic user (with LMS_XAPI_PASSWORD)."""
    xapi_password: SecretStr | None = None
    """The LRS's HTTP Basic password (kept in the database, readable only by lms_definer)."""
    xapi_home_page: str | None = None
    """The homePage of statement actors' accounts and the base of activity IRIs. Unset: LMS_PUBLIC_URL, else
    the server's http://HOST:PORT."""
    analyst_max_transaction_seconds: int = Field(default=900, ge=10, le=7 * 86400)
    """An analyst session whose transaction (a query, or one left open) is older than this is ended by
    each server process's watchdog (every 30 s) and by `lms db maintain`: analysts may lift their own
    statement_timeout, not this."""
    ws_max_sockets_per_user: int = Field(default=20, ge=1, le=10_000)
    """Open GET /ws sockets one user may hold per server process (more: the upgrade, or the auth message
    that would make it one more, answers 429 too_many_sockets)."""
    ws_max_sockets_per_address: int = Field(default=500, ge=1, le=100_000)
    """Open GET /ws sockets one client address may hold per server process, signed in or not (many
    learners may share one school's address); each upgrade also costs budget like a call."""
    analyst_temp_file_limit: str = Field(default="1GB", pattern=r"^[0-9]+ ?(kB|MB|GB|TB)$")
    """temp_file_limit set on every analyst login by `lms analyst grant` (a superuser-only setting they
    cannot lift): one sort cannot fill the data disk."""
    metrics_token: SecretStr | None = None
    """Bearer token a Prometheus scraper sends to GET /metrics. Unset (or another token): only an
    active admin's access token may read it — the counts per method are nobody else's business."""
    migrate_lock_wait_seconds: float = Field(default=60.0, gt=0, le=3600)
    """`lms db migrate` (and `lms serve`'s) gives up after this long waiting for locks other sessions
    hold, naming them; meanwhile it never keeps an API call waiting more than 100 ms at a time."""

    def xapi_home(self) -> str:
        return (self.xapi_home_page or self.rpc_url().removesuffix("/rpc")).rstrip("/")

    def rpc_url(self) -> str:
        """The absolute URL of POST /rpc when no request tells better."""
        if self.public_url:
            return self.public_url.rstrip("/") + "/rpc"
        return f"http://{self.host}:{self.port}/rpc"

    def jwt_key(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return kept_secret(self.home / "jwt_secret", lambda: secrets.token_urlsafe(48))

    def stripe_webhook_key(self) -> str:
        """LMS_STRIPE_WEBHOOK_SECRET, else a whsec_… secret generated once beside the JWT key (0600)."""
        if self.stripe_webhook_secret is not None:
            return self.stripe_webhook_secret.get_secret_value()
        return kept_secret(self.home / "stripe_webhook_secret", lambda: "whsec_" + secrets.token_hex(32))


def kept_secret(path: Path, make) -> str:
    """A secret generated once and kept in `path` (0600 from the start, never chmod'ed later). The
    file appears whole or not at all (written aside, then linked into place), so processes starting
    together agree on the first one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        write_private(tmp, make())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner only (0600 from the start, never chmod'ed later)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


POLICY_SETTINGS = ("file_quota_bytes", "max_upload_bytes", "upload_grace_seconds", "webhook_retry_hours",
                   "webhook_disable_after_hours", "event_retention_days", "analyst_max_transaction_seconds")


def policy_seeds(settings: Settings) -> dict[str, int]:
    """The policy settings this environment sets explicitly (LMS_FILE_QUOTA_BYTES, …): they seed
    app.settings when the migrate that creates it runs, and are ignored afterwards (the database's
    values are the same for every process; a DBA changes them there)."""
    return {name: int(getattr(settings, name)) for name in POLICY_SETTINGS if name in settings.model_fields_set}


def production_problems(settings: Settings) -> list[str]:
    """Why this configuration is not fit for production (empty: it is)."""
    problems = []
    if settings.jwt_secret is None:
        problems.append("LMS_JWT_SECRET is unset: tokens would be signed with a random key kept in LMS_HOME")
    if settings.stripe_api_key is None:
        problems.append("LMS_STRIPE_API_KEY is unset: the local payment provider would take orders nobody pays")
    if not settings.home.is_absolute():
        problems.append(f"LMS_HOME is {settings.home}, relative to the working directory: set an absolute path")
    return problems
