#!/usr/bin/env python3
"""quench_client against a real quenchd and worker on loopback: submit, watch, download with
resume and sha256 check, typed errors, idempotent request ids, and the example pipeline step's
exit codes. The client package is generated from proto/ first, as a user would.

  client_test.py --bin-dir build/bin
"""
import argparse
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

import daemons

BIN_DIR = None
PACKAGE_DIR = None


def generate_package() -> pathlib.Path:
    out = pathlib.Path(tempfile.mkdtemp(prefix="quench-client-pkg-"))
    subprocess.run([sys.executable, str(daemons.REPO / "client/python/generate_protos.py"),
                    "--out", str(out)], check=True)
    return out


def sha256_file(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, str(PACKAGE_DIR))
        global quench_client
        import quench_client
        cls.service = daemons.Service(BIN_DIR)
        cls.fixture = cls.service.fixture
        cls.client = quench_client.QuenchClient(cls.service.server,
                                                token_file=str(cls.service.token_file))
        # One job for the tests that need a finished one (request id: submitted once).
        job = cls.client.submit(str(cls.fixture.model), preset="gptq-w4g32",
                                calib=str(cls.fixture.calib), eval=str(cls.fixture.eval),
                                shards=2, request_id="python-client-test-main")
        cls.events = list(cls.client.watch(job.job_id))
        cls.job = cls.client.get(job.job_id)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.service.close()

    def setUp(self):
        self.out = pathlib.Path(tempfile.mkdtemp(prefix="quench-client-out-"))

    def test_watch_yields_every_block_and_ends_succeeded(self):
        self.assertEqual(self.events[-1].job.state, quench_client.SUCCEEDED,
                         self.events[-1].job.message + self.service.quenchd.output()[-2000:])
        total = self.job.total_blocks
        self.assertGreater(total, 0)
        blocks_with_layers = {e.job.finished_blocks for e in self.events if e.layers}
        self.assertEqual(blocks_with_layers, set(range(1, total + 1)))
        progress = [e.job.finished_blocks for e in self.events]
        self.assertEqual(progress, sorted(progress), "blocks only move forward")
        for event in self.events:
            for layer in event.layers:
                self.assertGreaterEqual(layer.relative_output_error, 0.0)
                self.assertTrue(layer.name.startswith("model.layers."), layer.name)
        # The report arrives with the job, parsed.
        evaluation = self.job.evaluation
        self.assertIsNotNone(evaluation)
        self.assertGreater(evaluation["perplexity"], 1.0)
        self.assertTrue(0.0 <= evaluation["top1_agreement"] <= 1.0)

    def test_download_writes_every_artifact_with_its_sha256(self):
        downloaded = self.client.download(self.job.job_id, self.out)
        names = sorted(d.name for d in downloaded)
        self.assertEqual(names, sorted(a.name for a in self.job.artifacts))
        self.assertIn("report.html", names)
        for artifact in self.job.artifacts:
            path = self.out / artifact.name
            self.assertEqual(path.stat().st_size, artifact.size_bytes, artifact.name)
            self.assertEqual(sha256_file(path), artifact.sha256, artifact.name)
        self.assertEqual(list(self.out.rglob("*.part")), [])
        # A second download finds the files in place and fetches nothing.
        again = self.client.download(self.job.job_id, self.out)
        self.assertTrue(all(d.already_present for d in again))

    def test_download_resumes_from_a_part_file(self):
        artifact = max(self.job.artifacts, key=lambda a: a.size_bytes)
        reference = self.out / "reference"
        self.client.download(self.job.job_id, reference, names=[artifact.name])
        data = (reference / artifact.name).read_bytes()
        target = self.out / "resumed" / artifact.name
        target.parent.mkdir(parents=True)
        cut = len(data) // 3
        target.with_name(target.name + ".part").write_bytes(data[:cut])
        target.with_name(target.name + ".part.sha256").write_text(artifact.sha256 + "\n")
        received = []
        [result] = self.client.download(
            self.job.job_id, self.out / "resumed", names=[artifact.name],
            progress=lambda name, done, total: received.append(done))
        self.assertEqual(result.resumed_from, cut)
        self.assertEqual(target.read_bytes(), data)
        self.assertGreater(min(received), cut, "only the missing bytes were fetched")

    def test_a_part_file_of_another_artifact_is_not_resumed(self):
        artifact = max(self.job.artifacts, key=lambda a: a.size_bytes)
        target = self.out / artifact.name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        owner = target.with_name(target.name + ".part.sha256")
        # Left by a download of another job's file of the same name: started over.
        part.write_bytes(b"\0" * 1000)
        owner.write_text("0" * 64 + "\n")
        [result] = self.client.download(self.job.job_id, self.out, names=[artifact.name])
        self.assertEqual(result.resumed_from, 0)
        self.assertEqual(sha256_file(target), artifact.sha256)
        self.assertFalse(part.exists() or owner.exists())

    def test_a_damaged_part_file_is_caught_by_the_sha256_and_removed(self):
        artifact = max(self.job.artifacts, key=lambda a: a.size_bytes)
        target = self.out / artifact.name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(b"\0" * 1000)  # claims to be this artifact's prefix, but is not
        target.with_name(target.name + ".part.sha256").write_text(artifact.sha256 + "\n")
        with self.assertRaises(quench_client.IntegrityError) as raised:
            self.client.download(self.job.job_id, self.out, names=[artifact.name])
        self.assertIn("sha256", str(raised.exception))
        self.assertFalse(part.exists())
        self.assertFalse(target.exists())
        # The next call starts afresh and succeeds.
        [result] = self.client.download(self.job.job_id, self.out, names=[artifact.name])
        self.assertEqual(result.resumed_from, 0)
        self.assertEqual(sha256_file(target), artifact.sha256)

    def test_errors_are_typed(self):
        with self.assertRaises(quench_client.NotFound):
            self.client.get("job-0000000000000000")
        with self.assertRaises(quench_client.InvalidRequest) as raised:
            self.client.submit(str(self.fixture.model), preset="no-such-preset")
        self.assertIn("no-such-preset", str(raised.exception))
        # Paths: outside the coordinator's model roots is not allowed; inside, it must exist.
        with self.assertRaises(quench_client.AuthError) as raised:
            self.client.submit("/definitely/not/a/model", preset="rtn-w4g32")
        self.assertIn("outside the model roots", str(raised.exception))
        with self.assertRaises(quench_client.NotFound):
            self.client.submit(str(self.fixture.model), preset="gptq-w4g32",
                               calib=str(self.fixture.root / "missing-calib.jsonl"))
        with self.assertRaises(quench_client.NotFound):
            self.client.download(self.job.job_id, self.out, names=["nope.bin"])
        with quench_client.QuenchClient(self.service.server, token="wrong") as wrong:
            with self.assertRaises(quench_client.AuthError):
                wrong.list()
        with quench_client.QuenchClient("127.0.0.1:1", token="x", timeout=2) as nowhere:
            with self.assertRaises(quench_client.Unavailable):
                nowhere.list()
        # A request id reused for another request is refused; the same request is the same job.
        again = self.client.submit(str(self.fixture.model), preset="gptq-w4g32",
                                   calib=str(self.fixture.calib), eval=str(self.fixture.eval),
                                   shards=2, request_id="python-client-test-main")
        self.assertEqual(again.job_id, self.job.job_id)
        with self.assertRaises(quench_client.AlreadyExists):
            self.client.submit(str(self.fixture.model), preset="rtn-w4g32",
                               request_id="python-client-test-main")

    def test_list_and_a_failed_job_raise_from_wait(self):
        listed = {job.job_id for job in self.client.list()}
        self.assertIn(self.job.job_id, listed)
        succeeded = {job.job_id for job in self.client.list(state="SUCCEEDED")}
        self.assertIn(self.job.job_id, succeeded)
        # Calibration data that exists but holds a token outside the vocabulary: accepted,
        # then the job fails with the reason, and wait() raises it typed.
        bad = self.service.work / "bad-calib.jsonl"
        bad.write_text('{"input_ids": [1, 99999, 3, 4, 5, 6, 7, 8]}\n')
        job = self.client.submit(str(self.fixture.model), preset="gptq-w4g32", calib=str(bad))
        with self.assertRaises(quench_client.JobFailed) as raised:
            self.client.wait(job.job_id)
        self.assertEqual(raised.exception.job.state, quench_client.FAILED)
        self.assertIn("outside the vocabulary", raised.exception.job.message)

    def run_step(self, *extra, token_file=None, data=None):
        """The example step on the fixture model; `data`: its flags (default: the fixture's
        calibration and evaluation data)."""
        if data is None:
            data = ["--calib", str(self.fixture.calib), "--eval", str(self.fixture.eval)]
        env = {"PYTHONPATH": str(PACKAGE_DIR), "PATH": "/usr/bin:/bin"}
        return subprocess.run(
            [sys.executable, str(daemons.REPO / "client/python/examples/quantize_step.py"),
             "--server", self.service.server, "--token-file",
             str(token_file or self.service.token_file), "--model", str(self.fixture.model),
             *data, *extra],
            capture_output=True, text=True, env=env, timeout=600)

    def test_pipeline_step_passes_and_fails_on_its_thresholds(self):
        metrics = self.out / "metrics.json"
        passed = self.run_step("--preset", "gptq-w4g32", "--out", str(self.out / "a"),
                               "--max-kl-divergence", "10",
                               "--min-top1", "0.01", "--metrics-out", str(metrics))
        self.assertEqual(passed.returncode, 0, passed.stdout + passed.stderr)
        figures = json.loads(metrics.read_text())
        kl = figures["evaluation"]["kl_divergence"]
        self.assertGreater(kl, 0)
        self.assertTrue((self.out / "a" / "report.html").is_file())
        # The same inputs: the same job (request id), so a retried step costs nothing.
        strict = self.run_step("--preset", "gptq-w4g32", "--out", str(self.out / "b"),
                               "--max-kl-divergence", repr(kl / 2))
        self.assertEqual(strict.returncode, 8, strict.stdout + strict.stderr)
        self.assertIn("KL divergence", strict.stderr)
        self.assertEqual(json.loads(metrics.read_text())["job_id"],
                         strict.stdout.split("job ")[1].split()[0])
        # A step whose job failed is run again: it does not stop at the failed job but
        # submits a new one (and, the input still being wrong, fails again with exit 3).
        bad = self.service.work / "bad-step-calib.jsonl"
        bad.write_text('{"input_ids": [1, 99999, 3]}\n')
        step = ["--preset", "rtn-w4g32", "--out", str(self.out / "d")]
        first = self.run_step(*step, data=["--calib", str(bad)])
        self.assertEqual(first.returncode, 3, first.stdout + first.stderr)
        self.assertIn("outside the vocabulary", first.stderr)
        again = self.run_step(*step, data=["--calib", str(bad)])
        self.assertEqual(again.returncode, 3, again.stdout + again.stderr)
        self.assertIn("ended FAILED; submitting again", again.stdout)
        wrong_token = self.out / "wrong-token"
        wrong_token.write_text("nope\n")
        refused = self.run_step("--preset", "rtn-w4g32", "--out", str(self.out / "c"),
                                token_file=wrong_token, data=[])
        self.assertEqual(refused.returncode, 6, refused.stderr)


def main():
    global BIN_DIR, PACKAGE_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", type=pathlib.Path, required=True)
    args, rest = parser.parse_known_args()
    BIN_DIR = args.bin_dir.resolve()
    PACKAGE_DIR = generate_package()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
