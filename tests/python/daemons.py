"""Real quenchd and quench-worker processes on loopback for the Python tests (tests/python,
tests/deploy), and the model they quantize: stories260K from ../shared when present, else a
`quench testgen` model."""
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


class Daemon:
    """A daemon run in the background, its output in a log file."""

    def __init__(self, argv, log, env=None):
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env=env)

    def output(self):
        return pathlib.Path(self.log).read_text(errors="replace")

    def stop(self, within_s):
        """SIGTERM; the exit code, or None if it did not exit within `within_s`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


def wait_for(condition, timeout_s, what):
    """condition()'s first truthy value, polled every 50 ms; AssertionError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def start_quenchd(argv, directory, env=None):
    """quenchd with --ready-file, its log in directory/quenchd.log; (daemon, ready json)."""
    ready_file = pathlib.Path(directory) / "ready.json"
    daemon = Daemon(argv + [f"--ready-file={ready_file}"], pathlib.Path(directory) / "quenchd.log",
                    env)

    def ready():
        if daemon.process.poll() is not None:
            raise AssertionError(f"quenchd exited ({daemon.process.returncode}):\n"
                                 f"{' '.join(argv)}\n{daemon.output()}")
        return json.loads(ready_file.read_text()) if ready_file.exists() else None
    return daemon, wait_for(ready, 20, "quenchd's ready file")


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
        self.quenchd, ports = start_quenchd([
            str(self.bin_dir / "quenchd"), "--listen", "127.0.0.1:0", "--http-listen",
            "127.0.0.1:0", "--data-dir", str(self.work / "data"), "--model-root",
            str(self.fixture.root), "--model-root", str(self.work), "--token-file",
            str(self.token_file)], self.work)
        self.grpc_port, self.http_port = ports["grpc_port"], ports["http_port"]
        self.server = f"127.0.0.1:{self.grpc_port}"
        self.worker = Daemon([
            str(self.bin_dir / "quench-worker"), "--coordinator", self.server, "--token-file",
            str(self.token_file), "--name", "python-test-worker"],
            self.work / "quench-worker.log")

        def connected():
            if self.worker.process.poll() is not None:
                raise AssertionError("the worker exited: " + self.worker.output())
            return "python-test-worker: connected" in self.quenchd.output()
        wait_for(connected, 20, "the worker to connect")

    def close(self):
        self.worker.stop(20)
        self.quenchd.stop(20)
