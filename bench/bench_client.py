"""Remote fit vs local fit: the [engine-speed] mlp for 5 epochs through ``numkeras.client``
(data upload included) against the same fit on the local engine. Goal: remote <= 1.15x local.

    python bench/bench_client.py [--epochs 5] [--repeats 3] [--workers 1] [--json out.json]

Uses the server of ``NUMKERAS_URL`` / ``NUMKERAS_API_KEY`` when set, else starts one
(``numkeras serve`` on a free loopback port, temp data dir). Both sides are warmed up first
(a one-batch fit on other data), so the figures compare steady-state fits; every remote
repeat uses fresh arrays, so each one uploads its 64 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import numkeras.client as remote  # noqa: E402
import numkeras.engine as local  # noqa: E402


def build(keras: object) -> object:
    return common.build_keras_model(keras, "mlp")  # compiled: Adam, categorical_crossentropy


def timed_fit(keras: object, x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    model = build(keras)
    model.get_weights()  # the remote model exists before the clock starts, as a local one does
    start = time.perf_counter()
    model.fit(x, y, batch_size=common.SPECS["mlp"].batch_size, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="job workers of a started server")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    server = None
    if os.environ.get("NUMKERAS_URL"):
        remote.connect()
    else:
        from tests.server.conftest import create_key, start_server

        data_dir = Path(tempfile.mkdtemp(prefix="numkeras-bench-")) / "data"
        data_dir.mkdir()
        server = start_server(data_dir, workers=args.workers,
                              extra=["--max-request-mb", "1024"])
        remote.connect(server.url, api_key=create_key(data_dir, "bench"))
    try:
        n = common.SPECS["mlp"].samples
        warm_x, warm_y = common.make_data("mlp", 256, seed=99)
        for keras in (local, remote):
            build(keras).fit(warm_x, warm_y, batch_size=128, epochs=1, verbose=0)
        local_s, remote_s = [], []
        for i in range(args.repeats):
            x, y = common.make_data("mlp", n, seed=i)
            # Alternate which side goes first, so that a change in the machine's load does
            # not always fall on the same side.
            if i % 2:
                remote_s.append(timed_fit(remote, x, y, args.epochs))
                local_s.append(timed_fit(local, x, y, args.epochs))
            else:
                local_s.append(timed_fit(local, x, y, args.epochs))
                remote_s.append(timed_fit(remote, x, y, args.epochs))
            print(f"repeat {i + 1}: local {local_s[-1]:.2f} s, remote {remote_s[-1]:.2f} s "
                  f"({remote_s[-1] / local_s[-1]:.3f}x)", flush=True)
    finally:
        if server is not None:
            from tests.server.conftest import stop_server

            stop_server(server)
    res = {"model": "mlp", "samples": n, "epochs": args.epochs,
           "data_mb": (x.nbytes + y.nbytes) / 2**20,
           "local_s": min(local_s), "remote_s": min(remote_s),
           "ratio": min(remote_s) / min(local_s),
           "median_pair_ratio": float(np.median(np.divide(remote_s, local_s))),
           "goal": "<= 1.15x"}
    print(f"mlp, {n} samples, {args.epochs} epochs, {res['data_mb']:.0f} MiB uploaded: local "
          f"{res['local_s']:.2f} s, remote {res['remote_s']:.2f} s -> {res['ratio']:.3f}x "
          f"(best of repeats; median of the pairs {res['median_pair_ratio']:.3f}x; "
          "goal <= 1.15x)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
