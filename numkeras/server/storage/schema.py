"""The database schema: API keys, models, datasets, jobs (the queue) and job events."""

SCHEMA_VERSION = 1

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL)""",
    # One row per model; its arrays live in blob files named here. `version` grows with every
    # change of weights or optimizer state, so a writer can detect a concurrent change.
    """CREATE TABLE IF NOT EXISTS models (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        info TEXT NOT NULL,
        training_config TEXT,
        metrics_names TEXT,
        weights_blob TEXT NOT NULL,
        optimizer_blob TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS models_tenant ON models (tenant, created_at)",
    """CREATE TABLE IF NOT EXISTS datasets (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT,
        arrays TEXT NOT NULL,
        blob TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        created_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS datasets_tenant ON datasets (tenant, created_at)",
    # The job queue: first in, first out by `seq` within a tenant, round robin between tenants
    # (Storage.claim_job).
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        model_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        progress TEXT,
        worker TEXT,
        worker_pid INTEGER,
        history TEXT,
        result TEXT,
        result_blob TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL)""",
    "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant, model_id, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_tenant_started ON jobs (tenant, started_at)",
    "CREATE INDEX IF NOT EXISTS jobs_tenant_status ON jobs (tenant, status)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_job ON events (job_id, id)",
    # Chunked dataset uploads in progress: bytes so far in <data_dir>/uploads/<id>.part.
    """CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT,
        size INTEGER,
        received INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL)""",
    # Streamed jobs: batches pushed by the client wait here (as blobs) until the worker
    # takes them, in `seq` order.
    """CREATE TABLE IF NOT EXISTS job_streams (
        job_id TEXT PRIMARY KEY,
        max_queue_size INTEGER NOT NULL,
        pushed INTEGER NOT NULL DEFAULT 0,
        consumed INTEGER NOT NULL DEFAULT 0,
        ended INTEGER NOT NULL DEFAULT 0,
        last_push_at REAL)""",
    """CREATE TABLE IF NOT EXISTS job_batches (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        blob TEXT NOT NULL,
        PRIMARY KEY (job_id, seq))""",
)

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
