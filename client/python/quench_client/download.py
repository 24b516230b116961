"""Resumable, verified artifact downloads.

Bytes go to `<name>.part` and are renamed to `<name>` only after the whole file's sha256 matches
the coordinator's, so a reader never sees a half-written or wrong artifact. A `.part` left by an
interrupted download is resumed from its end when `<name>.part.sha256` says it belongs to the
same artifact (a `.part` of another job's artifact of the same name starts over); a broken
stream is reopened from the last byte written.
"""
import dataclasses
import hashlib
import os
import pathlib
import time
from typing import Callable, Optional

import grpc

from quench_client import errors
from quench_client.jobs import Artifact

try:  # per-chunk CRC32C when the optional `crc32c` module is installed; sha256 always
    import crc32c as _crc32c
except ImportError:
    _crc32c = None

MAX_RECONNECTS = 5
_HASH_BLOCK = 1 << 20


@dataclasses.dataclass
class DownloadedArtifact:
    name: str
    path: pathlib.Path
    size_bytes: int
    sha256: str
    resumed_from: int = 0  # bytes of an earlier .part that were kept
    already_present: bool = False  # the file was there with the right sha256


def _sha256_of(path: pathlib.Path, limit: Optional[int] = None) -> "hashlib._Hash":
    digest = hashlib.sha256()
    remaining = limit
    with open(path, "rb") as f:
        while remaining is None or remaining > 0:
            block = f.read(_HASH_BLOCK if remaining is None else min(_HASH_BLOCK, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest


def _fsync_directory(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def download_artifact(open_stream: Callable[[int], "grpc.Call"], artifact: Artifact,
                      out_dir: pathlib.Path,
                      progress: Optional[Callable[[str, int, int], None]] = None,
                      ) -> DownloadedArtifact:
    """Downloads `artifact` into out_dir; `open_stream(offset)` starts a DownloadArtifact call."""
    path = out_dir / artifact.name
    path.parent.mkdir(parents=True, exist_ok=True)
    result = DownloadedArtifact(artifact.name, path, artifact.size_bytes, artifact.sha256)
    if path.is_file() and path.stat().st_size == artifact.size_bytes and \
            _sha256_of(path).hexdigest() == artifact.sha256.lower():
        result.already_present = True
        return result

    part = path.with_name(path.name + ".part")
    # Which artifact the .part holds a prefix of: resuming another job's file would waste the
    # whole download on a sha256 mismatch.
    owner = path.with_name(path.name + ".part.sha256")
    same_artifact = owner.is_file() and owner.read_text().strip() == artifact.sha256.lower()
    offset = part.stat().st_size if part.is_file() and same_artifact else 0
    if offset > artifact.size_bytes:  # not a prefix of this artifact: start again
        offset = 0
    owner.write_text(artifact.sha256.lower() + "\n")
    result.resumed_from = offset
    digest = _sha256_of(part, offset) if offset else hashlib.sha256()
    failures = 0
    with open(part, "r+b" if part.exists() else "wb") as out:
        out.truncate(offset)
        out.seek(offset)
        while offset < artifact.size_bytes:
            before = offset
            stream = open_stream(offset)
            try:
                for chunk in stream:
                    if chunk.offset != offset:
                        raise errors.Unavailable(
                            f"{artifact.name}: chunk at byte {chunk.offset}, expected {offset}")
                    if _crc32c is not None and _crc32c.crc32c(chunk.data) != chunk.crc32c:
                        raise errors.Unavailable(f"{artifact.name}: chunk at byte {offset} "
                                                 "arrived damaged (CRC32C)")
                    out.write(chunk.data)
                    digest.update(chunk.data)
                    offset += len(chunk.data)
                    if progress is not None:
                        progress(artifact.name, offset, artifact.size_bytes)
                if offset < artifact.size_bytes:  # ended early without an error: reconnect
                    raise errors.Unavailable(f"{artifact.name}: the stream ended at byte "
                                             f"{offset} of {artifact.size_bytes}")
            except (grpc.RpcError, errors.Unavailable) as error:
                typed = (errors.from_rpc_error(error, f"download {artifact.name}")
                         if isinstance(error, grpc.RpcError) else error)
                if offset > before:
                    failures = 0
                if not isinstance(typed, errors.Unavailable) or failures >= MAX_RECONNECTS:
                    out.flush()
                    os.fsync(out.fileno())
                    raise type(typed)(f"{typed} ({offset} bytes stay in {part}; call download "
                                      "again to resume)", typed.code) from error
                time.sleep(min(2 ** failures, 16))
                failures += 1
            finally:
                stream.cancel()
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != artifact.sha256.lower():
        part.unlink()
        owner.unlink(missing_ok=True)
        raise errors.IntegrityError(
            f"{artifact.name}: sha256 of the download is {digest.hexdigest()}, the coordinator "
            f"says {artifact.sha256}; removed {part}")
    os.replace(part, path)
    owner.unlink(missing_ok=True)
    _fsync_directory(path.parent)
    return result
