"""QuenchClient: submit jobs to quenchd, watch them, download what they made."""
import os
import pathlib
import time
import uuid
from typing import Callable, Iterator, List, Optional

import grpc

from quench_client import errors
from quench_client.download import DownloadedArtifact, download_artifact
from quench_client.jobs import (CANCELLED, FAILED, Job, JobEvent, event_from_proto,
                                job_from_proto, state_value)
from quench_client._generated.quench.v1 import jobs_pb2, jobs_pb2_grpc

_MAX_MESSAGE_BYTES = 64 << 20
_WATCH_RECONNECTS = 12  # backing off 1, 2, 4, 8, 16, then 30 s: about four minutes


def _read_token_file(path: str) -> str:
    try:
        token = pathlib.Path(path).read_text().strip()
    except OSError as error:
        raise errors.InvalidRequest(f"token file {path}: {error.strerror}") from error
    if not token:
        raise errors.InvalidRequest(f"token file {path} is empty")
    return token


class QuenchClient:
    """A connection to one quenchd.

    server: HOST:PORT (default $QUENCH_SERVER, else 127.0.0.1:7070).
    token / token_file: the bearer token (default: $QUENCH_TOKEN_FILE when set).
    tls_ca: a PEM root certificate file: connect over TLS.
    timeout: seconds for each unary call (watch and download streams have none).
    """

    def __init__(self, server: Optional[str] = None, *, token: Optional[str] = None,
                 token_file: Optional[str] = None, tls_ca: Optional[str] = None,
                 timeout: float = 30.0):
        self.server = server or os.environ.get("QUENCH_SERVER", "127.0.0.1:7070")
        token_file = token_file or (None if token else os.environ.get("QUENCH_TOKEN_FILE"))
        if token is None and token_file:
            token = _read_token_file(token_file)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        # Keepalive pings on open streams find a coordinator whose node vanished without closing
        # the connection (watch and download would wait forever); every 5 minutes, the most
        # often a gRPC server accepts by default.
        options = [("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                   ("grpc.keepalive_time_ms", 300_000), ("grpc.keepalive_timeout_ms", 20_000)]
        if tls_ca:
            credentials = grpc.ssl_channel_credentials(pathlib.Path(tls_ca).read_bytes())
            self._channel = grpc.secure_channel(self.server, credentials, options)
        else:
            self._channel = grpc.insecure_channel(self.server, options)
        self._stub = jobs_pb2_grpc.JobServiceStub(self._channel)
        self.timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "QuenchClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, what: str):
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error, what) from error

    # Jobs.

    def submit(self, model: str, *, preset: Optional[str] = None, recipe: Optional[str] = None,
               calib: Optional[str] = None, eval: Optional[str] = None, shards: int = 0,
               request_id: Optional[str] = None) -> Job:
        """Queues a job and returns it. Paths are the coordinator's (under its --model-root).

        recipe: the recipe's text (YAML or JSON), or use a built-in `preset` name.
        request_id: makes the submission idempotent: the same id and request give the same
        job (a retried pipeline step does not quantize twice); default: a fresh id.
        """
        if (preset is None) == (recipe is None):
            raise errors.InvalidRequest("give exactly one of preset= and recipe=")
        request = jobs_pb2.SubmitJobRequest(
            request_id=request_id or uuid.uuid4().hex,
            model=jobs_pb2.ModelSource(local_path=str(model)),
            preset=preset or "", recipe=recipe or "",
            calibration_path=str(calib or ""), evaluation_path=str(eval or ""),
            calibration_shards=shards)
        return job_from_proto(self._call(self._stub.SubmitJob, request, "submit").job)

    def get(self, job_id: str) -> Job:
        request = jobs_pb2.GetJobRequest(job_id=job_id)
        return job_from_proto(self._call(self._stub.GetJob, request, f"job {job_id}").job)

    def list(self, state: Optional[str] = None, page_size: int = 100) -> List[Job]:
        """Every job, newest first (optionally only those in `state`)."""
        jobs, token = [], ""
        while True:
            request = jobs_pb2.ListJobsRequest(page_size=page_size, page_token=token,
                                               state=state_value(state) if state else 0)
            response = self._call(self._stub.ListJobs, request, "list")
            jobs.extend(job_from_proto(job) for job in response.jobs)
            token = response.next_page_token
            if not token:
                return jobs

    def cancel(self, job_id: str) -> Job:
        request = jobs_pb2.CancelJobRequest(job_id=job_id)
        return job_from_proto(self._call(self._stub.CancelJob, request, f"cancel {job_id}").job)

    def watch(self, job_id: str) -> Iterator[JobEvent]:
        """The job's events until it ends: state changes, and each finished block's layers.

        A coordinator that restarts is waited for (the watch reconnects, backing off for about
        four minutes in all); an event seen before the reconnection is not repeated.
        """
        # quenchd replays a job's history to every new watch: what was yielded before a
        # reconnection is recognised by its bytes and skipped.
        seen = set()
        failures, code = 0, None
        while True:
            stream = self._stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id),
                                         metadata=self._metadata)
            try:
                for message in stream:
                    key = message.SerializeToString(deterministic=True)
                    if key in seen:
                        continue
                    seen.add(key)
                    failures = 0
                    event = event_from_proto(message)
                    yield event
                    if event.job.done:
                        return
                code = None  # ended without the terminal state: the coordinator went away
            except grpc.RpcError as error:
                code = error.code()
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    raise errors.from_rpc_error(error, f"watch {job_id}") from error
            finally:
                stream.cancel()
            if failures >= _WATCH_RECONNECTS:
                raise errors.Unavailable(f"watch {job_id}: lost the coordinator {failures} times "
                                         "in a row", code)
            time.sleep(min(2 ** failures, 30))
            failures += 1

    def wait(self, job_id: str, on_event: Optional[Callable[[JobEvent], None]] = None) -> Job:
        """Follows the job to its end; returns it when SUCCEEDED, else raises JobFailed or
        JobCancelled."""
        job = None
        for event in self.watch(job_id):
            if on_event is not None:
                on_event(event)
            job = event.job
        if job is None:
            job = self.get(job_id)
        if job.state == FAILED:
            raise errors.JobFailed(job)
        if job.state == CANCELLED:
            raise errors.JobCancelled(job)
        return job

    # Artifacts.

    def download(self, job_id: str, out_dir, names: Optional[List[str]] = None,
                 progress: Optional[Callable[[str, int, int], None]] = None,
                 ) -> List[DownloadedArtifact]:
        """Downloads the job's artifacts (or only `names`) into out_dir, each checked against
        the coordinator's sha256; an interrupted download resumes from its `.part` file."""
        job = self.get(job_id)
        if job.state != "SUCCEEDED":
            raise errors.InvalidRequest(f"job {job_id} is {job.state}: artifacts can be "
                                        "downloaded once it has SUCCEEDED")
        wanted = job.artifacts
        if names is not None:
            known = {a.name for a in job.artifacts}
            missing = [n for n in names if n not in known]
            if missing:
                raise errors.NotFound(f"job {job_id} has no artifact {', '.join(missing)} "
                                      f"(it has {', '.join(sorted(known))})")
            wanted = [a for a in job.artifacts if a.name in names]
        out = pathlib.Path(out_dir)
        results = []
        for artifact in wanted:
            def open_stream(offset, name=artifact.name):
                request = jobs_pb2.DownloadArtifactRequest(job_id=job_id, name=name,
                                                           offset=offset)
                return self._stub.DownloadArtifact(request, metadata=self._metadata)
            results.append(download_artifact(open_stream, artifact, out, progress))
        return results
