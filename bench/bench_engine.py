"""Training speed of the numkeras engine, side by side with PyTorch and tf-keras 2.

    python bench/bench_engine.py                       # all four models, peers when installed
    python bench/bench_engine.py --models tiny,mlp --quick --json out.json

The models are the [engine-speed] issue's, written as a Keras 2 user writes them
(``common.build_keras_model``, run here with ``import numkeras.engine as keras``). Figures:
steady-state training samples/s (one epoch after a warm-up epoch), evaluate and predict
samples/s, this machine's float32 GEMM peak and the mlp's fraction of it, the first fit in a new
process, and the peak memory of a process training one mlp epoch. Peers run in their own
processes (bench/peers/). See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np

HERE = Path(__file__).resolve().parent
PEERS = {"torch": HERE / "peers" / "torch_peer.py", "tf-keras": HERE / "peers" / "tf_keras_peer.py"}
FRAMEWORKS = ("numkeras", "torch", "tf-keras")
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "NUMBA_NUM_THREADS", "NUMKERAS_NUM_THREADS", "NUMKERAS_BLAS_SPLIT_MIN_FLOPS")
# (fan_in, units) of the mlp's Dense layers; a training step does 3 GEMMs per Dense
# (forward, input gradient, kernel gradient) of 2 * fan_in * units FLOPs per sample each.
MLP_DENSE = ((784, 512), (512, 256), (256, 10))
MLP_TRAIN_FLOPS_PER_SAMPLE = sum(3 * 2 * fan_in * units for fan_in, units in MLP_DENSE)


class NumkerasRunner:
    """The numkeras engine, used exactly as Keras 2: ``import numkeras.engine as keras``."""

    name = "numkeras"

    def load(self) -> str:
        import numkeras
        import numkeras.engine as keras

        self.keras = keras
        return getattr(numkeras, "__version__", "dev")

    def info(self) -> dict[str, Any]:
        import numba

        return {"numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS}

    def build(self, name: str) -> Any:
        return common.build_keras_model(self.keras, name)

    def fit_epoch(self, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        try:
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        except ValueError as e:
            if "no forward/backward kernel" in str(e):  # the layer exists, its kernel not yet
                raise common.LayerUnavailable(str(e)) from None
            raise

    def evaluate(self, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
        return model.evaluate(x, y, batch_size=batch_size, verbose=0)

    def predict(self, model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
        return model.predict(x, batch_size=batch_size, verbose=0)


# ------------------------------------------------------------------------------ measurements
def gemm_peak(n: int = 2048, repeats: int = 7) -> dict[str, Any]:
    """Best float32 ``n x n @ n x n`` throughput through numpy, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    best = min(common.timed(np.matmul, a, b, out) for _ in range(repeats))
    return {"n": n, "best_s": best, "gflops": 2 * n**3 / best / 1e9}


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed (pip install threadpoolctl)"}]
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer",
            "filepath")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def run_runner(python: str, script: Path, args: list[str], timeout: float) -> dict[str, Any]:
    """Starts a runner process and returns its JSON (or ``{"na": reason}``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python, str(script), *args, "--out", str(out), "--t0", repr(time.time())]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
        except FileNotFoundError:
            return {"available": False, "reason": f"no python at {python}"}
        except subprocess.TimeoutExpired:
            return {"na": f"timed out after {timeout:.0f} s"}
        result = json.loads(out.read_text()) if out.exists() else {}
        if proc.returncode != 0 or not result:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            print(f"  {script.name} {' '.join(args)} exited with {proc.returncode}:\n{tail}",
                  file=sys.stderr)
            result.setdefault("na", f"runner failed (exit {proc.returncode})")
        elif "Traceback" in proc.stderr:
            print(proc.stderr[-3000:], file=sys.stderr)
        return result


def runner_pythons(args: argparse.Namespace) -> dict[str, str | None]:
    """The python that runs each framework; None when there is none to try."""
    tf_python = args.tf_python or os.environ.get("NUMKERAS_TF_PYTHON")
    repo_venv = HERE.parent / ".tfvenv" / "bin" / "python"
    if not tf_python and repo_venv.exists():
        tf_python = str(repo_venv)
    if not tf_python and importlib.util.find_spec("tf_keras") is not None:
        tf_python = sys.executable
    return {"numkeras": sys.executable, "torch": sys.executable, "tf-keras": tf_python}


def script_of(framework: str) -> Path:
    return Path(__file__).resolve() if framework == "numkeras" else PEERS[framework]


def child_args(framework: str, mode: str, extra: list[str]) -> list[str]:
    return (["--child"] if framework == "numkeras" else []) + ["--mode", mode, *extra]


# ------------------------------------------------------------------------------------ output
def fmt_rate(entry: dict[str, Any] | None, key: str) -> str:
    if not entry:
        return "-"
    if "na" in entry:
        return f"n/a ({entry['na']})"
    value = entry[key]
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def fmt_ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> str:
    if not a or not b or "na" in a or "na" in b:
        return "-"
    return f"{a[key] / b[key]:.2f}x"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(res: dict[str, Any]) -> str:
    models, train = res["models"], res["train"]
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} "
                     f"x{b.get('num_threads')}" for b in res["blas"])
    out = [f"{res['cores']} cores; numpy {res['numpy']} with {blas}; versions {res['versions']}"]
    set_env = {k: v for k, v in res["env"].items() if v is not None}
    if set_env:
        out.append(f"environment: {set_env}")
    start, end = res["load_average_start"][0], res["load_average_end"][0]
    out.append(f"load average (1 min) at start {start:.1f}, at end {end:.1f}"
               + (" -- other processes were busy: the figures are unreliable"
                  if start > 0.5 * res["cores"] or end > 1.5 * res["cores"] else ""))
    out.append("")

    def cell(fw: str, name: str) -> dict[str, Any] | None:
        return (train.get(fw) or {}).get(name)

    rows = []
    for name in models:
        nk, pt, tf = cell("numkeras", name), cell("torch", name), cell("tf-keras", name)
        rows.append([name, fmt_rate(nk, "train_samples_per_s"),
                     fmt_rate(pt, "train_samples_per_s"), fmt_rate(tf, "train_samples_per_s"),
                     fmt_ratio(nk, pt, "train_samples_per_s"),
                     fmt_ratio(nk, tf, "train_samples_per_s"), common.GOALS[name]])
    rounds = res.get("rounds") or []
    out.append("Training, samples/s (one epoch after a warm-up epoch; Adam"
               + (f"; best of {len(rounds)} rounds)" if len(rounds) > 1 else ")"))
    out.append(table(["model", "numkeras", "torch", "tf-keras", "nk/torch", "nk/tf-keras",
                      "goal"], rows))
    if len(rounds) > 1:
        out.append("\nTraining ratios in each round (numkeras, torch and tf-keras ran in turn)")
        rows = []
        for name in models:
            row = [name]
            for peer in ("torch", "tf-keras"):
                row.append(" ".join(fmt_ratio((r.get("numkeras") or {}).get(name),
                                              (r.get(peer) or {}).get(name),
                                              "train_samples_per_s") for r in rounds))
            rows.append(row)
        out.append(table(["model", "nk/torch by round", "nk/tf-keras by round"], rows))

    for key, title in (("evaluate_samples_per_s", "Evaluate"), ("predict_samples_per_s",
                                                                "Predict")):
        rows = [[name, *(fmt_rate(cell(fw, name), key) for fw in FRAMEWORKS),
                 fmt_ratio(cell("numkeras", name), cell("torch", name), key),
                 fmt_ratio(cell("numkeras", name), cell("tf-keras", name), key)]
                for name in models]
        out.append(f"\n{title}, samples/s (training batch size, after one warm-up call)")
        out.append(table(["model", *FRAMEWORKS, "nk/torch", "nk/tf-keras"], rows))

    gemm = res["gemm"]
    out.append(f"\nfloat32 GEMM peak through numpy ({gemm['n']}x{gemm['n']}, best of 7): "
               f"{gemm['gflops']:.0f} GFLOP/s")
    flops = MLP_TRAIN_FLOPS_PER_SAMPLE
    for fw in FRAMEWORKS:
        mlp = cell(fw, "mlp")
        if mlp and "na" not in mlp:
            gf = mlp["train_samples_per_s"] * flops / 1e9
            out.append(f"  mlp training on {fw}: {gf:.0f} GFLOP/s = "
                       f"{gf / gemm['gflops']:.0%} of the peak (goal for numkeras >= 55%)")
    out.append(f"  ({flops / 1e6:.2f} MFLOP per mlp training sample: 3 GEMMs per Dense)")

    out.append(f"\nFirst fit in a new process (start + import + build + fit "
               f"{common.FIRST_FIT_SAMPLES} tiny samples; goal for numkeras <= "
               f"{common.GOAL_FIRST_FIT_S:.0f} s)")
    rows = []
    for label, entry in res["first_fit"].items():
        ff = (entry or {}).get("first_fit") or entry or {}
        if "na" in ff or "total_s" not in ff:
            rows.append([label, f"n/a ({ff.get('na') or entry.get('reason', '?')})", "", "", ""])
        else:
            rows.append([label, f"{ff['total_s']:.2f} s", f"{ff['import_s']:.2f} s",
                         f"{ff['build_s']:.2f} s", f"{ff['fit_s']:.2f} s"])
    out.append(table(["runner", "total", "start+import", "build", "fit"], rows))

    out.append("\nPeak memory of a process training one mlp epoch (VmHWM; the data is "
               f"{res.get('mlp_data_mb', 0):.0f} MiB of it; goal: numkeras <= torch)")
    rows = []
    for fw in FRAMEWORKS:
        mem = (res["memory"].get(fw) or {}).get("memory") or res["memory"].get(fw) or {}
        if "peak_rss_mb" not in mem:
            reason = mem.get("na") or mem.get("reason") or "not run"
            rows.append([fw, f"n/a ({reason})", "", ""])
        else:
            rows.append([fw, f"{mem['peak_rss_mb']:.0f} MiB",
                         f"{mem['rss_after_import_mb']:.0f} MiB",
                         f"{mem['peak_rss_mb'] - mem['rss_before_fit_mb']:.0f} MiB"])
    out.append(table(["runner", "peak", "after import", "peak - before fit"], rows))
    return "\n".join(out)


# -------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(common.MODEL_NAMES),
                        help="comma-separated subset of " + ",".join(common.MODEL_NAMES))
    parser.add_argument("--quick", action="store_true",
                        help=f"1/{common.QUICK_DIVISOR} of the samples (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--peers", default="torch,tf-keras",
                        help="peers to run: torch,tf-keras (default), or 'none'")
    parser.add_argument("--tf-python", metavar="PATH",
                        help="python of the tf-keras virtual environment "
                             "(default: $NUMKERAS_TF_PYTHON, else .tfvenv/bin/python at the "
                             "repository root)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed epochs per model; the fastest is reported (default 1)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times the whole training comparison runs, numkeras and peers in "
                             "turn; each rate is the best round's, and the report lists every "
                             "round's ratios (default 1)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds allowed per peer process (default 3600)")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in common.SPECS]
    if unknown or not names:
        parser.error(f"--models: unknown model(s) {unknown}; choose from "
                     f"{','.join(common.MODEL_NAMES)}")
    args.models = names
    peers = [] if args.peers == "none" else [p.strip() for p in args.peers.split(",")]
    bad = [p for p in peers if p not in PEERS]
    if bad:
        parser.error(f"--peers: unknown peer(s) {bad}; choose from torch,tf-keras or none")
    args.peers = peers
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    return args


def train_round(runner: NumkerasRunner, args: argparse.Namespace,
                pythons: dict[str, str | None], res: dict[str, Any],
                round_no: int) -> dict[str, Any]:
    """One round: the training figures of numkeras, then of each peer, every model."""
    got_round: dict[str, Any] = {"numkeras": {}}
    tag = f" (round {round_no + 1}/{args.rounds})" if args.rounds > 1 else ""
    for name in args.models:
        print(f"[numkeras] {name}{tag} ...", file=sys.stderr, flush=True)
        got_round["numkeras"][name] = common._guarded(common.train_figures, runner, name,
                                                      args.quick, args.repeat)
    quick = ["--quick"] if args.quick else []
    for fw in args.peers:
        python = pythons[fw]
        if python is None:
            got_round[fw] = {m: {"na": "no tf-keras python (--tf-python)"} for m in args.models}
            continue
        print(f"[{fw}] training {','.join(args.models)}{tag} in {python} ...", file=sys.stderr,
              flush=True)
        got = run_runner(python, PEERS[fw], ["--mode", "train", "--models",
                                             ",".join(args.models), *quick,
                                             "--repeat", str(args.repeat)], args.timeout)
        if not got.get("available", "na" not in got):
            reason = got.get("reason") or got.get("na")
            got_round[fw] = {m: {"na": reason} for m in args.models}
        else:
            got_round[fw] = got.get("models") or {m: {"na": got.get("na")} for m in args.models}
            res["versions"][fw] = got.get("version")
            res["runner_info"][fw] = got.get("info")
    return got_round


RATE_KEYS = ("train_samples_per_s", "evaluate_samples_per_s", "predict_samples_per_s")


def best_of_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per framework and model, each rate's best round (noise only ever slows a run down)."""
    best: dict[str, Any] = {}
    for got_round in rounds:
        for fw, models in got_round.items():
            for name, fig in models.items():
                mine = best.setdefault(fw, {}).get(name)
                if mine is None or "na" in mine:
                    best[fw][name] = dict(fig)
                elif "na" not in fig:
                    for key in RATE_KEYS:
                        mine[key] = max(mine[key], fig[key])
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    pythons = runner_pythons(args)
    res: dict[str, Any] = {
        "models": args.models, "quick": args.quick, "cores": common.core_count(),
        "python": sys.version.split()[0], "numpy": np.__version__,
        "env": {k: os.environ.get(k) for k in BLAS_ENV}, "blas": blas_info(),
        "train": {}, "first_fit": {}, "memory": {}, "runner_info": {},
        "load_average_start": os.getloadavg(),
    }
    print(f"cores {res['cores']}; numpy {np.__version__}; BLAS "
          + "; ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} "
                      f"x{b.get('num_threads')}" for b in res["blas"]), file=sys.stderr)
    set_env = {k: v for k, v in res["env"].items() if v is not None}
    if set_env:
        print(f"environment: {set_env}", file=sys.stderr)
    res["gemm"] = gemm_peak()
    print(f"GEMM peak {res['gemm']['gflops']:.0f} GFLOP/s", file=sys.stderr)
    res["mlp_data_mb"] = sum(a.nbytes for a in common.make_data(
        "mlp", common.samples_for("mlp", args.quick))) / 2**20

    runner = NumkerasRunner()
    res["versions"] = {"numkeras": runner.load()}
    res["runner_info"]["numkeras"] = runner.info()
    res["rounds"] = []
    for round_no in range(args.rounds):
        res["rounds"].append(train_round(runner, args, pythons, res, round_no))
    res["train"] = best_of_rounds(res["rounds"])
    quick = ["--quick"] if args.quick else []
    frameworks = ["numkeras", *args.peers]

    # First fit: the first numkeras run may compile what the numba cache lacks; the second is
    # the warm-cache figure of the goal.
    for label, fw in (("numkeras (cache as found)", "numkeras"), ("numkeras (warm cache)",
                                                                  "numkeras"),
                      *((p, p) for p in args.peers)):
        if pythons[fw] is None:
            res["first_fit"][label] = {"na": "not installed"}
            continue
        print(f"[{fw}] first fit in a new process ...", file=sys.stderr, flush=True)
        res["first_fit"][label] = run_runner(pythons[fw], script_of(fw),
                                             child_args(fw, "first-fit", []), args.timeout)
    for fw in frameworks:
        if pythons[fw] is None:
            res["memory"][fw] = {"na": "not installed"}
            continue
        print(f"[{fw}] peak memory of one mlp epoch ...", file=sys.stderr, flush=True)
        res["memory"][fw] = run_runner(pythons[fw], script_of(fw),
                                       child_args(fw, "memory", quick), args.timeout)

    res["load_average_end"] = os.getloadavg()
    text = report(res)
    print(text)
    res["report"] = text
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return res


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # a numkeras runner process started by main()
        common.run_child(NumkerasRunner(), sys.argv[2:])
    else:
        main()
