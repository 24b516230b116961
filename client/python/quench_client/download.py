"""Resumable, verified artifact downloads.

Bytes go to `<name>.part` and are renamed to `<name>` only after the whole file's sha256 matches
the coordinator's, so a reader never sees a half-written or wrong artifact. A `.part` left by an
interrupted download (this process or an earlier one, or the quench CLI, which uses the same
convention) is resumed from its end; a broken stream is reopened from the last byte written.
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
    offset = part.stat().st_size if part.is_file() else 0
    if offset > artifact.size_bytes:  # not a prefix of this artifact: start again
        offset = 0
    result.resumed_from = offset
    digest = _sha256_of(part, offset) if offset else hashlib.sha256()
    failures = 0
    with open(part, "r+b" if part.exists() else "wb") as out:
        out.truncate(offset)
        out.seek(offset)
        while offset < artifact.size_bytes:
            before = offset
            try:
                for chunk in open_stream(offset):
                    if chunk.offset != offset:
                        raise errors.IntegrityError(
                            f"{artifact.name}: chunk at byte {chunk.offset}, expected {offset}")
                    if _crc32c is not None and _crc32c.crc32c(chunk.data) != chunk.crc32c:
                        raise errors.Unavailable(f"{artifact.name}: chunk at byte {offset} "
                                                 "arrived damaged (CRC32C)")
                    out.write(chunk.data)
                    digest.update(chunk.data)
                    offset += len(chunk.data)
                    if progress is not None:
                        progress(artifact.name, offset, artifact.size_bytes)
                break
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
        out.flush()
        os.fsync(out.fileno())
    if offset != artifact.size_bytes:
        raise errors.Unavailable(f"{artifact.name}: the download stopped at byte {offset} of "
                                 f"{artifact.size_bytes}; call download again to resume")
    if digest.hexdigest() != artifact.sha256.lower():
        part.unlink()
        raise errors.IntegrityError(
            f"{artifact.name}: sha256 of the download is {digest.hexdigest()}, the coordinator "
            f"says {artifact.sha256}; removed {part}")
    os.replace(part, path)
    _fsync_directory(path.parent)
    return result
