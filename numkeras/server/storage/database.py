"""The SQLite database of one data dir: keys, models, datasets, the job queue and events.

stdlib ``sqlite3`` with hand-written SQL: the web process and every worker process open the
same file, the queries are few and small, and nothing else needs installing. The database runs
in WAL mode (readers never wait for the writer) with ``synchronous=NORMAL``: a committed
transaction survives a crash of any process; only a power loss can drop the last commits.
Write transactions start with ``BEGIN IMMEDIATE`` so that claiming a job is atomic across
processes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from numkeras.server.storage.blobs import BlobStore
from numkeras.server.storage.schema import STATEMENTS, TERMINAL_STATUSES

_INTERRUPTED = ("interrupted: the server stopped while the job was running; the model keeps "
                "the state it had before the job")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf8")).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def dumps(value: Any) -> str:
    """JSON text; non-finite floats become the strings "NaN", "Infinity", "-Infinity"."""
    return json.dumps(_finite(value), separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Storage:
    """Database and blob files of one ``data_dir``; safe to share between threads.

    Args:
        data_dir: The directory holding ``numkeras.sqlite3`` and the blob files.
    """

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "numkeras.sqlite3"
        self.blobs = BlobStore(self.data_dir)
        self._local = threading.local()
        with self.transaction() as db:
            for statement in STATEMENTS:
                db.execute(statement)

    # ------------------------------------------------------------------ plumbing
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) may leave the transaction open: end it, or this
            # connection could never start another one.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = self.db.execute(sql, args).fetchone()
        return None if row is None else dict(row)

    def _all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    # ---------------------------------------------------------------------- keys
    def create_key(self, name: str) -> tuple[str, str]:
        """A new API key (its own tenant): returns ``(key_id, key)``; only the hash is kept."""
        key = "nk_" + secrets.token_urlsafe(32)
        key_id = new_id("key")
        with self.transaction() as db:
            db.execute("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES (?,?,?,?)",
                       (key_id, name, hash_key(key), time.time()))
        return key_id, key

    def count_keys(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0])

    def tenant_for_key(self, key: str) -> str | None:
        """The tenant (key id) of an API key, or None."""
        digest = hash_key(key)
        row = self._one("SELECT id, key_hash FROM api_keys WHERE key_hash = ?", digest)
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return None
        return row["id"]

    # -------------------------------------------------------------------- models
    def insert_model(self, tenant: str, name: str, config: str, info: dict[str, Any],
                     weights_blob: str, training_config: dict[str, Any] | None = None,
                     metrics_names: list[str] | None = None,
                     optimizer_blob: str | None = None) -> dict[str, Any]:
        now = time.time()
        model_id = new_id("mdl")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO models (id, tenant, name, config, info, training_config, "
                "metrics_names, weights_blob, optimizer_blob, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (model_id, tenant, name, config, dumps(info),
                 None if training_config is None else dumps(training_config),
                 None if metrics_names is None else dumps(metrics_names), weights_blob,
                 optimizer_blob, now, now))
        return self.get_model(tenant, model_id)

    def get_model(self, tenant: str | None, model_id: str) -> dict[str, Any] | None:
        """The model row (JSON columns decoded); ``tenant=None`` for worker-side reads."""
        if tenant is None:
            row = self._one("SELECT * FROM models WHERE id = ?", model_id)
        else:
            row = self._one("SELECT * FROM models WHERE id = ? AND tenant = ?", model_id, tenant)
        return None if row is None else _decode_model(row)

    def list_models(self, tenant: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM models WHERE tenant = ? ORDER BY created_at", tenant)
        return [_decode_model(r) for r in rows]

    def delete_model(self, tenant: str, model_id: str) -> bool:
        """Deletes the model and cancels its queued and running jobs."""
        with self.transaction() as db:
            row = db.execute("SELECT weights_blob, optimizer_blob FROM models WHERE id = ? AND "
                             "tenant = ?", (model_id, tenant)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM models WHERE id = ?", (model_id,))
            jobs = db.execute("SELECT id FROM jobs WHERE model_id = ? AND status = 'queued'",
                              (model_id,)).fetchall()
            for job in jobs:
                self._finish(db, job["id"], "cancelled", "the model was deleted")
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE model_id = ? AND "
                       "status = 'running'", (model_id,))
        self.blobs.delete([row["weights_blob"], row["optimizer_blob"]])
        return True

    def set_training_config(self, tenant: str, model_id: str, training_config: dict[str, Any],
                            metrics_names: list[str]) -> bool:
        """Stores a new compile; as in Keras, a new compile starts a fresh optimizer."""
        with self.transaction() as db:
            row = db.execute("SELECT optimizer_blob FROM models WHERE id = ? AND tenant = ?",
                             (model_id, tenant)).fetchone()
            if row is None:
                return False
            db.execute("UPDATE models SET training_config = ?, metrics_names = ?, "
                       "optimizer_blob = NULL, version = version + 1, updated_at = ? "
                       "WHERE id = ?",
                       (dumps(training_config), dumps(metrics_names), time.time(), model_id))
        self.blobs.delete([row["optimizer_blob"]])
        return True

    def set_learning_rate(self, tenant: str | None, model_id: str, learning_rate: float
                          ) -> dict[str, Any] | None:
        """Sets the compiled optimizer's learning rate, keeping its state (slots, iterations).
        Returns the new optimizer config, or None if the model is not there or not compiled."""
        with self.transaction() as db:
            config = _set_learning_rate(db, model_id, tenant, learning_rate)
            if config is not None:
                db.execute("UPDATE models SET updated_at = ? WHERE id = ?",
                           (time.time(), model_id))
        return config

    def set_model_state(self, model_id: str, weights_blob: str, optimizer_blob: str | None,
                        keep_optimizer: bool = False, expected_version: int | None = None
                        ) -> bool:
        """Points the model at new weight (and optimizer) blobs in one transaction.

        Returns False, deleting the new blobs, if the model is gone or its version is not
        ``expected_version``.
        """
        with self.transaction() as db:
            row = db.execute("SELECT weights_blob, optimizer_blob, version FROM models "
                             "WHERE id = ?", (model_id,)).fetchone()
            ok = row is not None and (expected_version is None
                                      or row["version"] == expected_version)
            if ok:
                if keep_optimizer:
                    optimizer_blob = row["optimizer_blob"]
                db.execute("UPDATE models SET weights_blob = ?, optimizer_blob = ?, "
                           "version = version + 1, updated_at = ? WHERE id = ?",
                           (weights_blob, optimizer_blob, time.time(), model_id))
        if not ok:
            self.blobs.delete([weights_blob, None if keep_optimizer else optimizer_blob])
            return False
        old = [row["weights_blob"]]
        if not keep_optimizer and row["optimizer_blob"] != optimizer_blob:
            old.append(row["optimizer_blob"])
        self.blobs.delete(old)
        return True

    # ------------------------------------------------------------------ datasets
    def insert_dataset(self, tenant: str, name: str | None, arrays: dict[str, Any], blob: str,
                       size_bytes: int) -> dict[str, Any]:
        dataset_id = new_id("ds")
        with self.transaction() as db:
            db.execute("INSERT INTO datasets (id, tenant, name, arrays, blob, size_bytes, "
                       "created_at) VALUES (?,?,?,?,?,?,?)",
                       (dataset_id, tenant, name, dumps(arrays), blob, size_bytes, time.time()))
        return self.get_dataset(tenant, dataset_id)

    def get_dataset(self, tenant: str | None, dataset_id: str) -> dict[str, Any] | None:
        if tenant is None:
            row = self._one("SELECT * FROM datasets WHERE id = ?", dataset_id)
        else:
            row = self._one("SELECT * FROM datasets WHERE id = ? AND tenant = ?",
                            dataset_id, tenant)
        if row is not None:
            row["arrays"] = _loads(row["arrays"])
        return row

    def list_datasets(self, tenant: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM datasets WHERE tenant = ? ORDER BY created_at", tenant)
        for row in rows:
            row["arrays"] = _loads(row["arrays"])
        return rows

    def delete_dataset(self, tenant: str, dataset_id: str) -> bool:
        """Deletes the dataset; jobs already running keep the file open they read."""
        with self.transaction() as db:
            row = db.execute("SELECT blob FROM datasets WHERE id = ? AND tenant = ?",
                             (dataset_id, tenant)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        self.blobs.delete([row["blob"]])
        return True

    # ------------------------------------------------------------------- uploads
    def create_upload(self, tenant: str, name: str | None, size: int | None
                      ) -> dict[str, Any]:
        """A new chunked upload with an empty part file."""
        upload_id = new_id("up")
        self.blobs.upload_path(upload_id).touch()
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO uploads (id, tenant, name, size, received, created_at, "
                       "updated_at) VALUES (?,?,?,?,0,?,?)",
                       (upload_id, tenant, name, size, now, now))
        return self.get_upload(tenant, upload_id)

    def get_upload(self, tenant: str, upload_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM uploads WHERE id = ? AND tenant = ?", upload_id, tenant)

    def list_uploads(self, tenant: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM uploads WHERE tenant = ? ORDER BY created_at", tenant)

    def set_upload_received(self, upload_id: str, received: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE uploads SET received = ?, updated_at = ? WHERE id = ?",
                       (received, time.time(), upload_id))

    def delete_upload(self, tenant: str | None, upload_id: str) -> bool:
        """Drops the upload and its part file."""
        with self.transaction() as db:
            if tenant is None:
                gone = db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount
            else:
                gone = db.execute("DELETE FROM uploads WHERE id = ? AND tenant = ?",
                                  (upload_id, tenant)).rowcount
        if gone:
            self.blobs.upload_path(upload_id).unlink(missing_ok=True)
        return bool(gone)

    def finish_upload(self, tenant: str, upload_id: str, arrays: dict[str, Any]
                      ) -> dict[str, Any]:
        """Moves the complete part file into the blob store and makes it a dataset: the upload
        row goes and the dataset row comes in one transaction."""
        row = self.get_upload(tenant, upload_id)
        if row is None:
            raise KeyError(upload_id)
        blob = self.blobs.adopt(self.blobs.upload_path(upload_id))
        dataset_id = new_id("ds")
        with self.transaction() as db:
            db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            db.execute("INSERT INTO datasets (id, tenant, name, arrays, blob, size_bytes, "
                       "created_at) VALUES (?,?,?,?,?,?,?)",
                       (dataset_id, tenant, row["name"], dumps(arrays), blob, row["received"],
                        time.time()))
        return self.get_dataset(tenant, dataset_id)

    def reclaim_uploads(self, max_idle: float) -> list[str]:
        """Deletes uploads idle for more than ``max_idle`` seconds and part files that have no
        upload; a part file longer than its recorded size (a chunk cut by a crash) is cut back.
        Returns the ids of the deleted uploads."""
        rows = self._all("SELECT id, received, updated_at FROM uploads")
        now = time.time()
        expired = [r["id"] for r in rows if now - r["updated_at"] > max_idle]
        for upload_id in expired:
            self.delete_upload(None, upload_id)
        known = {r["id"]: r["received"] for r in rows if r["id"] not in expired}
        for part in self.blobs.uploads.glob("*.part"):
            if part.stem not in known:
                # A part file is created before its row: spare one that is being born.
                if now - part.stat().st_mtime > 60.0:
                    part.unlink(missing_ok=True)
            elif part.stat().st_size > known[part.stem]:
                with open(part, "rb+") as f:
                    f.truncate(known[part.stem])
        return expired

    # ---------------------------------------------------------------------- jobs
    def create_job(self, tenant: str, model_id: str, kind: str, spec: dict[str, Any]
                   ) -> dict[str, Any]:
        job_id = new_id("job")
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO jobs (id, tenant, model_id, kind, spec, status, created_at) "
                       "VALUES (?,?,?,?,?,?,?)",
                       (job_id, tenant, model_id, kind, dumps(spec), "queued", now))
            if spec.get("stream"):
                db.execute("INSERT INTO job_streams (job_id, max_queue_size) VALUES (?,?)",
                           (job_id, spec["max_queue_size"]))
            self._event(db, job_id, "status", {"status": "queued"})
        return self.get_job(tenant, job_id)

    def get_job(self, tenant: str | None, job_id: str) -> dict[str, Any] | None:
        if tenant is None:
            row = self._one("SELECT * FROM jobs WHERE id = ?", job_id)
        else:
            row = self._one("SELECT * FROM jobs WHERE id = ? AND tenant = ?", job_id, tenant)
        return None if row is None else _decode_job(row)

    def list_jobs(self, tenant: str, model_id: str | None = None, status: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM jobs WHERE tenant = ?", [tenant]
        if model_id is not None:
            sql += " AND model_id = ?"
            args.append(model_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return [_decode_job(r) for r in self._all(sql, *args)]

    def active_jobs(self, model_id: str, kinds: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(kinds))
        return int(self.db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE model_id = ? AND kind IN ({marks}) AND status IN "
            "('queued', 'running')", (model_id, *kinds)).fetchone()[0])

    def request_cancel(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        """Cancels a queued job at once; asks the worker of a running job to stop."""
        with self.transaction() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ? AND tenant = ?",
                             (job_id, tenant)).fetchone()
            if row is None:
                return None
            if row["status"] == "queued":
                self._finish(db, job_id, "cancelled", None)
            elif row["status"] == "running":
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        return self.get_job(tenant, job_id)

    def cancel_requested(self, job_id: str) -> bool:
        row = self.db.execute("SELECT cancel_requested FROM jobs WHERE id = ?",
                              (job_id,)).fetchone()
        return row is None or bool(row[0])

    def claim_job(self, worker: str, pid: int) -> dict[str, Any] | None:
        """Atomically takes a queued job for ``worker``; None if there is none.

        Fair between tenants (round robin): the next job is the oldest queued job of the tenant
        with the fewest running jobs, ties going to the tenant whose last job started longest
        ago. One tenant's long queue thus never starves another tenant's job; within a tenant
        jobs run first in, first out.
        """
        with self.transaction() as db:
            row = db.execute(
                "SELECT h.seq, (SELECT id FROM jobs WHERE seq = h.seq) AS id FROM "
                "(SELECT tenant, MIN(seq) AS seq FROM jobs WHERE status = 'queued' "
                "GROUP BY tenant) AS h ORDER BY "
                "(SELECT COUNT(*) FROM jobs r WHERE r.tenant = h.tenant AND "
                "r.status = 'running'), "
                "(SELECT COALESCE(MAX(started_at), 0) FROM jobs s WHERE s.tenant = h.tenant), "
                "h.seq LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'running', worker = ?, worker_pid = ?, "
                       "started_at = ? WHERE seq = ?", (worker, pid, time.time(), row["seq"]))
            self._event(db, row["id"], "status", {"status": "running"})
        return self.get_job(None, row["id"])

    def set_progress(self, job_id: str, progress: dict[str, Any],
                     event: tuple[str, dict[str, Any]] | None = None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (dumps(progress), job_id))
            if event is not None:
                self._event(db, job_id, *event)

    def add_event(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            self._event(db, job_id, kind, data)

    def finish_job(self, job_id: str, status: str, error: str | None = None,
                   history: Any = None, result: Any = None, result_blob: str | None = None,
                   state: tuple[str, str | None] | None = None,
                   learning_rate: float | None = None) -> bool:
        """Ends a running job; with ``state`` (weights and optimizer blobs) the model takes
        them in the same transaction, and ``learning_rate`` (one that a callback changed).
        Returns False if the job was not running any more."""
        with self.transaction() as db:
            row = db.execute("SELECT status, model_id FROM jobs WHERE id = ?",
                             (job_id,)).fetchone()
            if row is None or row["status"] != "running":
                ok = False
            else:
                ok = True
                old: list[str | None] = []
                if state is not None:
                    model = db.execute("SELECT weights_blob, optimizer_blob FROM models "
                                       "WHERE id = ?", (row["model_id"],)).fetchone()
                    if model is not None:
                        db.execute("UPDATE models SET weights_blob = ?, optimizer_blob = ?, "
                                   "version = version + 1, updated_at = ? WHERE id = ?",
                                   (*state, time.time(), row["model_id"]))
                        old = [model["weights_blob"], model["optimizer_blob"]]
                        if learning_rate is not None:
                            _set_learning_rate(db, row["model_id"], None, learning_rate)
                    else:
                        old = list(state)
                db.execute("UPDATE jobs SET history = ?, result = ?, result_blob = ? "
                           "WHERE id = ?",
                           (None if history is None else dumps(history),
                            None if result is None else dumps(result), result_blob, job_id))
                self._finish(db, job_id, status, error)
        if not ok:
            self.blobs.delete([result_blob, *(state or ())])
        else:
            self.blobs.delete(old)
        return ok

    def fail_worker_jobs(self, worker: str, reason: str) -> list[str]:
        """Fails the running jobs of a worker that died; returns their ids."""
        with self.transaction() as db:
            rows = db.execute("SELECT id FROM jobs WHERE worker = ? AND status = 'running'",
                              (worker,)).fetchall()
            for row in rows:
                self._finish(db, row["id"], "failed", reason)
        return [r["id"] for r in rows]

    def fail_interrupted_jobs(self) -> list[str]:
        """At start-up: jobs a crash left 'running' become failed ("interrupted")."""
        with self.transaction() as db:
            rows = db.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall()
            for row in rows:
                self._finish(db, row["id"], "failed", _INTERRUPTED)
        return [r["id"] for r in rows]

    def _finish(self, db: sqlite3.Connection, job_id: str, status: str,
                error: str | None) -> None:
        assert status in TERMINAL_STATUSES
        db.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                   (status, error, time.time(), job_id))
        self._event(db, job_id, "status", {"status": status, "error": error})

    # ------------------------------------------------------------------- streams
    def get_stream(self, job_id: str) -> dict[str, Any] | None:
        """A streamed job's queue: ``pushed``, ``consumed``, ``ended``, ``max_queue_size``."""
        return self._one("SELECT * FROM job_streams WHERE job_id = ?", job_id)

    def push_batch(self, job_id: str, blob: str) -> tuple[str, dict[str, Any]]:
        """Queues a batch blob unless the queue is full, the data ended or the job finished.

        Returns:
            ``(outcome, stream)``: outcome "queued", "full", "ended" or the job's terminal
            status. Unless it is "queued", the caller still owns (and deletes) the blob.
        """
        with self.transaction() as db:
            stream = dict(db.execute("SELECT * FROM job_streams WHERE job_id = ?",
                                     (job_id,)).fetchone())
            status = db.execute("SELECT status FROM jobs WHERE id = ?",
                                (job_id,)).fetchone()["status"]
            if status in TERMINAL_STATUSES:
                outcome = status
            elif stream["ended"]:
                outcome = "ended"
            elif stream["pushed"] - stream["consumed"] >= stream["max_queue_size"]:
                outcome = "full"
            else:
                outcome = "queued"
                db.execute("INSERT INTO job_batches (job_id, seq, blob) VALUES (?,?,?)",
                           (job_id, stream["pushed"], blob))
                db.execute("UPDATE job_streams SET pushed = pushed + 1, last_push_at = ? "
                           "WHERE job_id = ?", (time.time(), job_id))
                stream["pushed"] += 1
        return outcome, stream

    def end_stream(self, job_id: str) -> dict[str, Any]:
        with self.transaction() as db:
            db.execute("UPDATE job_streams SET ended = 1 WHERE job_id = ?", (job_id,))
        return self.get_stream(job_id)

    def take_batch(self, job_id: str) -> tuple[str | None, bool]:
        """The next batch blob of a streamed job (the caller deletes it) and whether the client
        signalled the end of its data; ``(None, ended)`` when none is waiting."""
        with self.transaction() as db:
            stream = db.execute("SELECT consumed, ended FROM job_streams WHERE job_id = ?",
                                (job_id,)).fetchone()
            row = db.execute("SELECT blob FROM job_batches WHERE job_id = ? AND seq = ?",
                             (job_id, stream["consumed"])).fetchone()
            if row is not None:
                db.execute("DELETE FROM job_batches WHERE job_id = ? AND seq = ?",
                           (job_id, stream["consumed"]))
                db.execute("UPDATE job_streams SET consumed = consumed + 1 WHERE job_id = ?",
                           (job_id,))
        return (None if row is None else row["blob"]), bool(stream["ended"])

    def drop_batches(self, job_id: str | None = None) -> int:
        """Deletes the waiting batches of a job, or (``None``) of every finished job."""
        with self.transaction() as db:
            if job_id is None:
                where = ("job_id IN (SELECT id FROM jobs WHERE status IN "
                         f"({','.join('?' * len(TERMINAL_STATUSES))}))", TERMINAL_STATUSES)
            else:
                where = ("job_id = ?", (job_id,))
            rows = db.execute(f"SELECT blob FROM job_batches WHERE {where[0]}",
                              where[1]).fetchall()
            db.execute(f"DELETE FROM job_batches WHERE {where[0]}", where[1])
        self.blobs.delete(r["blob"] for r in rows)
        return len(rows)

    # -------------------------------------------------------------------- events
    @staticmethod
    def _event(db: sqlite3.Connection, job_id: str, kind: str, data: dict[str, Any]) -> None:
        db.execute("INSERT INTO events (job_id, type, data, created_at) VALUES (?,?,?,?)",
                   (job_id, kind, dumps(data), time.time()))

    def events_after(self, job_id: str, after: int, limit: int = 1000
                     ) -> list[dict[str, Any]]:
        return self._all("SELECT id, type, data FROM events WHERE job_id = ? AND id > ? "
                         "ORDER BY id LIMIT ?", job_id, after, limit)


def _set_learning_rate(db: sqlite3.Connection, model_id: str, tenant: str | None,
                       learning_rate: float) -> dict[str, Any] | None:
    """Rewrites ``learning_rate`` in the stored optimizer config (Python floats round-trip
    exactly through JSON text, unlike SQLite's ``json_set``)."""
    row = db.execute("SELECT training_config FROM models WHERE id = ?"
                     + ("" if tenant is None else " AND tenant = ?"),
                     (model_id,) if tenant is None else (model_id, tenant)).fetchone()
    if row is None or row["training_config"] is None:
        return None
    training_config = json.loads(row["training_config"])
    optimizer = training_config["optimizer_config"]
    optimizer.setdefault("config", {})["learning_rate"] = float(learning_rate)
    db.execute("UPDATE models SET training_config = ? WHERE id = ?",
               (dumps(training_config), model_id))
    return optimizer


def _decode_model(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("info", "training_config", "metrics_names"):
        row[key] = _loads(row[key])
    return row


def _decode_job(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("spec", "progress", "history", "result"):
        row[key] = _loads(row[key])
    return row
