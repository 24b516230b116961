"""Real quenchd and quench-worker processes on loopback for the Python tests, and the model
they quantize: stories260K from ../shared when present, else a `quench testgen` model."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
# QUENCH_TEST_SHARED=/nowhere tries the testgen fallback of a machine without ../shared.
SHARED = pathlib.Path(os.environ.get("QUENCH_TEST_SHARED", REPO.parent / "shared"))


class Fixture:
    """A model, calibration and evaluation data, and the directory they live in."""

    def __init__(self, bin_dir: pathlib.Path, work: pathlib.Path):
        model = SHARED / "models" / "stories260K"
        if model.is_dir():
            self.model = model.resolve()
            self.calib = (SHARED / "data" / "stories260K-calib.jsonl").resolve()
            self.eval = (SHARED / "data" / "stories260K-eval.jsonl").resolve()
            self.root = SHARED.resolve()
            return
        print(f"daemons: {model} is missing; using a quench testgen model", file=sys.stderr)
        self.model = work / "testgen-model"
        self.calib = work / "testgen-tokens.jsonl"
        self.eval = self.calib
        self.root = work
        subprocess.run([str(bin_dir / "quench"), "testgen", "--hidden", "64", "--intermediate",
                        "128", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab",
                        "256", "--seed", "1", "--out", str(self.model), "--tokens-out",
                        str(self.calib), "--token-sequences", "16", "--token-length", "64"],
                       check=True, capture_output=True)


class Service:
    """quenchd (token, port 0) and one CPU worker, stopped by close()."""

    def __init__(self, bin_dir: pathlib.Path, token: str = "python-test-token"):
        self.bin_dir = pathlib.Path(bin_dir)
        for name in ("quenchd", "quench-worker", "quench"):
            if not (self.bin_dir / name).is_file():
                raise RuntimeError(f"{self.bin_dir / name} is missing: build first")
        self.work = pathlib.Path(tempfile.mkdtemp(prefix="quench-python-test-"))
        self.token = token
        self.token_file = self.work / "token"
        self.token_file.write_text(token + "\n")
        os.chmod(self.token_file, 0o600)
        self.fixture = Fixture(self.bin_dir, self.work)
        self.logs = []
        self.quenchd = self._start("quenchd", [
            "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--data-dir", str(self.work / "data"), "--model-root", str(self.fixture.root),
            "--model-root", str(self.work),
            "--token-file", str(self.token_file), "--ready-file", str(self.work / "ready.json")])
        ready = self.work / "ready.json"
        deadline = time.monotonic() + 20
        while not ready.exists():
            if self.quenchd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("quenchd did not start: " + self.log("quenchd"))
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
        self.grpc_port, self.http_port = ports["grpc_port"], ports["http_port"]
        self.server = f"127.0.0.1:{self.grpc_port}"
        self.worker = self._start("quench-worker", [
            "--coordinator", self.server, "--token-file", str(self.token_file),
            "--name", "python-test-worker"])
        deadline = time.monotonic() + 20
        while "python-test-worker: connected" not in self.log("quenchd"):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not connect: " + self.log("quench-worker"))
            time.sleep(0.05)

    def _start(self, name, args):
        log = open(self.work / f"{name}.log", "wb")
        self.logs.append(log)
        return subprocess.Popen([str(self.bin_dir / name), *args], stdout=log,
                                stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")

    def close(self):
        for process in (self.worker, self.quenchd):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.worker, self.quenchd):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()
