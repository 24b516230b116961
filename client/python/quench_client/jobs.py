"""The client's view of jobs and their events: plain dataclasses, not protobuf messages."""
import dataclasses
import json
from typing import List, Optional

from quench_client._generated.quench.v1 import jobs_pb2

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
TERMINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)


@dataclasses.dataclass(frozen=True)
class Artifact:
    name: str  # e.g. "gptq/model.safetensors"
    size_bytes: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Job:
    job_id: str
    state: str  # QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED
    message: str
    progress: float  # 0..1
    finished_blocks: int
    total_blocks: int
    artifacts: List[Artifact]
    request_id: str
    created_unix_s: int
    updated_unix_s: int
    report: Optional[dict]  # report.json's figures once SUCCEEDED

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def evaluation(self) -> Optional[dict]:
        """Perplexity, KL divergence and top-1 agreement against the original, if evaluated."""
        return (self.report or {}).get("evaluation")


@dataclasses.dataclass(frozen=True)
class LayerError:
    name: str
    grid: str
    relative_output_error: float
    relative_weight_error: float


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One WatchJob update: the job's state, what it is doing, the layers of a finished block."""
    job: Job
    message: str
    layers: List[LayerError]
    eta_s: float


def state_name(state: int) -> str:
    return jobs_pb2.JobState.Name(state).replace("JOB_STATE_", "")


def state_value(name: str) -> int:
    return jobs_pb2.JobState.Value("JOB_STATE_" + name.upper())


def job_from_proto(job) -> Job:
    report = None
    if job.report_json:
        try:
            report = json.loads(job.report_json)
        except ValueError:
            report = None
    return Job(
        job_id=job.job_id,
        state=state_name(job.state),
        message=job.message,
        progress=job.progress,
        finished_blocks=job.finished_blocks,
        total_blocks=job.total_blocks,
        artifacts=[Artifact(a.name, a.size_bytes, a.sha256) for a in job.artifacts],
        request_id=job.request_id,
        created_unix_s=job.created_unix_s,
        updated_unix_s=job.updated_unix_s,
        report=report,
    )


def event_from_proto(event) -> JobEvent:
    return JobEvent(
        job=job_from_proto(event.job),
        message=event.message,
        layers=[LayerError(l.name, l.grid, l.relative_output_error, l.relative_weight_error)
                for l in event.layers],
        eta_s=event.eta_s,
    )
