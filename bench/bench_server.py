"""Service figures: upload MB/s of a 100 MB float32 array (one request, and the chunked
upload), submit-to-running latency of a job on an idle server, events per second delivered to
a follower, batches per second through a streamed fit.

Starts a real server (``numkeras serve``) on a free loopback port with a temp data dir.

    python bench/bench_server.py [--workers 2] [--upload-mb 100] [--latency-runs 20]
        [--stream-batches 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numkeras.engine as keras  # noqa: E402
from numkeras import wire  # noqa: E402
from tests.server.conftest import create_key, start_server, stop_server  # noqa: E402


def _wait(api: httpx.Client, job_id: str, statuses: tuple[str, ...]) -> dict:
    while True:
        job = api.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.005)


def _pieces(data: memoryview, size: int = 4 << 20):
    for start in range(0, len(data), size):
        yield bytes(data[start:start + size])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--upload-mb", type=float, default=100.0)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--stream-batches", type=int, default=1000)
    args = parser.parse_args()

    import tests.server.conftest as conftest

    conftest.MAX_REQUEST_MB = int(args.upload_mb * 2 + 16)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", workers=args.workers)
        try:
            api = server.client(create_key(server.data_dir, "bench"))
            api.timeout = httpx.Timeout(600.0)

            # ---------------------------------------------------------------- upload
            n = int(args.upload_mb * (1 << 20) / 4)
            body = wire.encode_arrays({"x": np.random.default_rng(0).random(n, np.float32)})
            view = memoryview(body)

            def chunks(size: int = 4 << 20):
                for start in range(0, len(body), size):
                    yield bytes(view[start:start + size])

            # httpx sends a bytes body in 64 KiB writes (~60 MiB/s on loopback); an iterator
            # of 4 MiB chunks with an explicit Content-Length is about 4x faster.
            for label, content, headers in (
                    ("bytes body", lambda: body, {}),
                    ("4 MiB chunks", chunks, {"Content-Length": str(len(body))})):
                rates = []
                for _ in range(3):
                    t = time.perf_counter()
                    r = api.post("/datasets", content=content(), headers=headers)
                    elapsed = time.perf_counter() - t
                    assert r.status_code == 201, r.text
                    rates.append(len(body) / (1 << 20) / elapsed)
                    api.delete(f"/datasets/{r.json()['id']}")
                print(f"upload of a {len(body) / (1 << 20):.1f} MiB float32 array (npz, httpx "
                      f"{label}): {statistics.median(rates):.0f} MiB/s median of 3 "
                      f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")

            # ------------------------------------------------------- chunked upload
            for chunk_mb in (8, 32):
                size = chunk_mb << 20
                rates = []
                for _ in range(3):
                    t = time.perf_counter()
                    up = api.post("/datasets/uploads", json={"size": len(body)}).json()
                    for start in range(0, len(body), size):
                        part = view[start:start + size]
                        r = api.put(f"/datasets/uploads/{up['id']}", params={"offset": start},
                                    content=_pieces(part),
                                    headers={"Content-Length": str(len(part))})
                        assert r.status_code == 200, r.text
                    r = api.post(f"/datasets/uploads/{up['id']}/finalize")
                    elapsed = time.perf_counter() - t
                    assert r.status_code == 201, r.text
                    rates.append(len(body) / (1 << 20) / elapsed)
                    api.delete(f"/datasets/{r.json()['id']}")
                print(f"chunked upload of the same array ({chunk_mb} MiB chunks, each fsynced, "
                      f"then finalize): {statistics.median(rates):.0f} MiB/s median of 3 "
                      f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")

            # ------------------------------------------------------- streamed batches
            for batch, features in ((32, 4), (256, 784)):
                a = keras.Input(shape=(features,))
                b = keras.layers.Dense(3, activation="softmax")(a)
                config = json.loads(keras.Model(a, b).to_json())
                sid = api.post("/models", json={"config": config}).json()["id"]
                api.put(f"/models/{sid}/compile",
                        json={"optimizer": "sgd", "loss": "sparse_categorical_crossentropy"})
                rng = np.random.default_rng(0)
                payload = wire.encode_arrays({
                    "x": rng.random((batch, features), np.float32),
                    "y": rng.integers(0, 3, batch)})
                job = api.post("/jobs", json={"kind": "fit", "model_id": sid, "stream": True,
                                              "steps_per_epoch": args.stream_batches,
                                              "max_queue_size": 10}).json()
                t = time.perf_counter()
                for _ in range(args.stream_batches):
                    r = api.post(f"/jobs/{job['id']}/batches", content=payload)
                    assert r.status_code == 202, r.text
                done = _wait(api, job["id"], ("succeeded", "failed"))
                elapsed = time.perf_counter() - t
                assert done["status"] == "succeeded", done
                print(f"streamed fit, one client pushing {args.stream_batches} batches of "
                      f"{batch}x{features} float32 ({len(payload) / 1024:.0f} KiB) in order: "
                      f"{args.stream_batches / elapsed:.0f} batches/s "
                      f"({args.stream_batches * len(payload) / (1 << 20) / elapsed:.0f} MiB/s)")

            # --------------------------------------------------------------- latency
            a = keras.Input(shape=(4,))
            b = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8)(a))
            config = json.loads(keras.Model(a, b).to_json())
            model_id = api.post("/models", json={"config": config}).json()["id"]
            api.put(f"/models/{model_id}/compile", json={"optimizer": "sgd", "loss": "mse"})
            x = np.zeros((8, 4), np.float32)
            y = np.zeros((8, 3), np.float32)
            ds = api.post("/datasets", content=wire.encode_arrays({"x": x, "y": y})).json()["id"]
            latencies = []
            for _ in range(args.latency_runs):
                job = api.post("/jobs", json={"kind": "predict", "model_id": model_id,
                                              "x": {"dataset_id": ds, "arrays": "x"}}).json()
                done = _wait(api, job["id"], ("succeeded", "failed"))
                latencies.append((done["started_at"] - done["created_at"]) * 1000)
                time.sleep(0.3)  # idle again: every worker waits on the queue
            latencies.sort()
            print(f"submit-to-running latency on an idle server ({args.latency_runs} jobs, "
                  f"server timestamps): median {statistics.median(latencies):.1f} ms, "
                  f"p90 {latencies[int(0.9 * len(latencies)) - 1]:.1f} ms, "
                  f"max {latencies[-1]:.1f} ms")

            # ---------------------------------------------------------------- events
            job = api.post("/jobs", json={
                "kind": "fit", "model_id": model_id, "x": {"dataset_id": ds, "arrays": "x"},
                "y": {"dataset_id": ds, "arrays": "y"}, "epochs": args.epochs,
                "batch_size": 8}).json()
            count, first, last = 0, None, None
            with api.stream("GET", f"/jobs/{job['id']}/events") as r:
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        count += 1
                        last = time.perf_counter()
                        first = first or last
            print(f"events followed live: {count} events in {last - first:.2f} s = "
                  f"{count / (last - first):.0f} events/s (bounded by the job producing them: "
                  "one epoch_end per epoch of 1 batch)")
            t = time.perf_counter()
            with api.stream("GET", f"/jobs/{job['id']}/events") as r:
                replayed = sum(1 for line in r.iter_lines() if line.startswith("id: "))
            elapsed = time.perf_counter() - t
            print(f"events replayed to a follower (Last-Event-ID 0 after the job): {replayed} "
                  f"events in {elapsed:.2f} s = {replayed / elapsed:.0f} events/s")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
