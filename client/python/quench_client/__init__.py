"""quench_client: a Python client for the Quench coordinator (quenchd).

    from quench_client import QuenchClient
    with QuenchClient("quenchd:7070", token_file="/etc/quench/token") as quench:
        job = quench.submit("/models/llama", preset="gptq-w4g128",
                            calib="/models/calib.jsonl", eval="/models/eval.jsonl",
                            request_id="nightly-2026-11-26")
        for event in quench.watch(job.job_id):
            print(event.job.state, event.message)
        done = quench.wait(job.job_id)          # raises JobFailed / JobCancelled
        quench.download(job.job_id, "out/")      # resumable, sha256-checked
        print(done.evaluation)                   # perplexity, KL divergence, top-1
"""
try:
    from quench_client._generated.quench.v1 import jobs_pb2 as _jobs_pb2  # noqa: F401
except ImportError as error:  # pragma: no cover - a checkout without generated modules
    raise ImportError("quench_client's gRPC modules are not generated: run "
                      "python3 client/python/generate_protos.py") from error

from quench_client.client import QuenchClient
from quench_client.download import DownloadedArtifact
from quench_client.errors import (AlreadyExists, AuthError, IntegrityError, InvalidRequest,
                                  JobCancelled, JobFailed, NotFound, QuenchError, Unavailable)
from quench_client.jobs import (CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Artifact, Job,
                                JobEvent, LayerError)

__version__ = "0.1.0"
__all__ = [
    "QuenchClient", "Job", "JobEvent", "LayerError", "Artifact", "DownloadedArtifact",
    "QuenchError", "InvalidRequest", "AuthError", "NotFound", "AlreadyExists", "Unavailable",
    "JobFailed", "JobCancelled", "IntegrityError",
    "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED",
]
