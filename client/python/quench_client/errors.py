"""Typed errors: what went wrong, in terms a pipeline can act on.

Every error raised by QuenchClient is a QuenchError; catch the subclass you can handle
(retry on Unavailable, fix the request on InvalidRequest, fail the step on JobFailed).
"""
import grpc


class QuenchError(Exception):
    """Base class. `code` is the gRPC status code when the server answered, else None."""

    def __init__(self, message: str, code: "grpc.StatusCode | None" = None):
        super().__init__(message)
        self.code = code


class InvalidRequest(QuenchError):
    """The request is wrong (bad recipe, missing model or data, a path outside the model roots)."""


class AuthError(QuenchError):
    """The token is missing or wrong, or the call is not allowed."""


class NotFound(QuenchError):
    """No such job or artifact."""


class AlreadyExists(QuenchError):
    """The request id was used before for a different request."""


class Unavailable(QuenchError):
    """The coordinator cannot be reached (down, restarting, wrong address) or timed out."""


class JobFailed(QuenchError):
    """The job ended FAILED; `job` holds its last state and `job.message` the reason."""

    def __init__(self, job):
        super().__init__(f"job {job.job_id} failed: {job.message}")
        self.job = job


class JobCancelled(QuenchError):
    """The job ended CANCELLED."""

    def __init__(self, job):
        super().__init__(f"job {job.job_id} was cancelled: {job.message}")
        self.job = job


class IntegrityError(QuenchError):
    """A download's sha256 differs from the coordinator's (the .part was removed: the next call
    starts over)."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidRequest,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequest,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: AuthError,
    grpc.StatusCode.PERMISSION_DENIED: AuthError,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
}


def from_rpc_error(error: grpc.RpcError, what: str) -> QuenchError:
    """The typed error for a failed call; `what` says which call ("submit", "download x")."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    kind = _BY_CODE.get(code, QuenchError)
    name = code.name if code is not None else "ERROR"
    return kind(f"{what}: {name}: {details}", code)
