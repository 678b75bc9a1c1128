"""predict_on_batch under load: N concurrent clients (threads with httpx) each create a small
model, upload a few hundred samples, fit it for 2 epochs as a job, then call predict_on_batch
repeatedly. Prints the throughput and the p50 / p99 latency of predict_on_batch, and the fits'.

    python bench/bench_load.py                  # starts its own server (2 job workers)
    python bench/bench_load.py --clients 64 --predicts 50

Only loopback traffic: the server is started on 127.0.0.1 in a temp data dir and stopped at the
end.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from numkeras import wire  # noqa: E402


def model_json(hidden: int) -> dict:
    def dense(name: str, units: int, activation: str, inbound: str) -> dict:
        return {"class_name": "Dense", "name": name, "inbound_nodes": [[[inbound, 0, 0, {}]]],
                "config": {"name": name, "units": units, "activation": activation}}
    return {"class_name": "Functional", "config": {
        "name": "clf", "input_layers": [["features", 0, 0]], "output_layers": [["probs", 0, 0]],
        "layers": [{"class_name": "InputLayer", "name": "features", "inbound_nodes": [],
                    "config": {"batch_input_shape": [None, 4], "name": "features"}},
                   dense("hidden", hidden, "relu", "features"),
                   dense("probs", 3, "softmax", "hidden")]}}


def start_server(data_dir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "numkeras.cli", "serve", "--port", str(port), "--data-dir",
         str(data_dir), "--workers", str(workers), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def client(url: str, key: str, i: int, predicts: int, batch: int,
           start: threading.Barrier) -> tuple[float, list[tuple[float, float]]]:
    """One user; returns the fit job's wall time and each predict_on_batch's (start, end)."""
    rng = np.random.default_rng(i)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    with httpx.Client(base_url=url + "/v1", headers={"Authorization": f"Bearer {key}"},
                      timeout=300) as api:
        start.wait()
        model = api.post("/models", json={"config": model_json(4 + i % 8)}).json()["id"]
        api.put(f"/models/{model}/compile", json={
            "optimizer": "adam", "loss": "sparse_categorical_crossentropy"}).raise_for_status()
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        ds = api.post("/datasets", content=buf.getvalue()).json()["id"]
        t0 = time.perf_counter()
        job = api.post("/jobs", json={"kind": "fit", "model_id": model, "epochs": 2,
                                      "batch_size": 32, "x": {"dataset_id": ds, "arrays": "x"},
                                      "y": {"dataset_id": ds, "arrays": "y"}}).json()["id"]
        while (status := api.get(f"/jobs/{job}").json()["status"]) in ("queued", "running"):
            time.sleep(0.02)
        if status != "succeeded":
            raise RuntimeError(f"client {i}: fit {status}")
        fit = time.perf_counter() - t0
        body = wire.encode_arrays({"x": x[:batch]})
        calls = []
        for _ in range(predicts):
            t0 = time.perf_counter()
            r = api.post(f"/models/{model}/predict_on_batch", content=body)
            r.raise_for_status()
            calls.append((t0, time.perf_counter()))
        return fit, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="job workers of the server")
    parser.add_argument("--predicts", type=int, default=20, help="predict_on_batch per client")
    parser.add_argument("--batch", type=int, default=32, help="samples per predict_on_batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        process, url = start_server(data_dir, args.workers)
        try:
            keys = [subprocess.run(
                [sys.executable, "-m", "numkeras.cli", "keys", "create", f"load-{t}",
                 "--data-dir", str(data_dir)], capture_output=True, text=True, check=True,
                cwd=ROOT).stdout.split()[-1] for t in range(4)]
            barrier = threading.Barrier(args.clients)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(
                    lambda i: client(url, keys[i % len(keys)], i, args.predicts, args.batch,
                                     barrier), range(args.clients)))
            wall = time.perf_counter() - t0
        finally:
            process.terminate()
            process.wait(30)
    fits = np.array([f for f, _ in results])
    calls = np.array([c for _, cs in results for c in cs])
    lat = (calls[:, 1] - calls[:, 0]) * 1e3
    window = calls[:, 1].max() - calls[:, 0].min()
    print(f"numkeras server, {args.workers} job workers, {args.clients} concurrent clients, "
          f"{os.cpu_count()} cores")
    print(f"  all clients done in {wall:.2f} s: {args.clients} fits (300 samples, 2 epochs) "
          f"and {lat.size} predict_on_batch calls of {args.batch} samples")
    print(f"  fit job (queued + run): p50 {np.percentile(fits, 50):.2f} s, "
          f"p99 {np.percentile(fits, 99):.2f} s")
    print(f"  predict_on_batch: {lat.size / window:.1f} calls/s "
          f"({lat.size * args.batch / window:.0f} samples/s) from the first call to the last, "
          f"p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms")


if __name__ == "__main__":
    main()
