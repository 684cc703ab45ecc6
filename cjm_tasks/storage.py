"""One small interface over a local folder and an S3 prefix.

``open_storage("/some/folder")`` and ``open_storage("s3://bucket/prefix", s3)`` return objects with
the same methods; keys are ``/``-separated paths below the root. S3 credentials come from the
standard AWS chain (environment, profile, instance role), or from an :class:`S3Access` an
orchestrator hands in (a boto3 session built from an Airflow connection): passed to
:func:`open_storage` or held by :func:`handing_s3_access` for everything opened inside it. The
endpoint URL is configurable for S3-compatible servers (MinIO, moto). Transient S3 errors are
retried with exponential backoff by botocore's standard retry mode.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cjm_tasks.errors import CjmError

if TYPE_CHECKING:
    from cjm_tasks.config import S3Config


# Files are copied in pieces of this size (a download, an upload part): large enough for
# throughput, small enough that a big file never sits in memory whole.
CHUNK = 8 * 1024 * 1024


class StorageError(CjmError):
    """A storage location cannot be reached or a key cannot be read."""

    exit_code = 1


class Storage(Protocol):
    """What every storage offers. Keys are relative, ``/``-separated."""

    def url(self, key: str = "") -> str: ...
    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, content_type: str | None = None) -> bool: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def delete(self, keys: Iterable[str]) -> None: ...
    def local_path(self, key: str) -> Path | None: ...
    def read_chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]: ...
    def move_file(self, key: str, path: Path) -> None: ...


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if len(bucket) < 3:
        raise StorageError(f"{url}: not an S3 location (expected s3://bucket/prefix with a bucket name of 3 or more characters)")
    return bucket, key


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


@dataclass
class LocalStorage:
    """A folder on the local file system."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def url(self, key: str = "") -> str:
        return str(self._path(key))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{self.url(key)}: no such file") from None

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, content_type: str | None = None) -> bool:
        """Write ``data`` at ``key`` atomically (temp file + rename).

        With ``if_absent`` the write only happens when the key does not exist yet; the return
        value says whether it happened. The check and the create are one step (``os.link``
        fails when the target exists), so two racing writers cannot both win.
        """
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            # mkstemp makes 0600 files; a published site must be readable by a web server.
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if if_absent:
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    return False
                return True
            os.replace(tmp, target)
            return True
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix)
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root)).replace(os.sep, "/")
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the files at ``keys`` (a missing one is no error) and the folders left empty."""
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            for folder in path.parents:
                if folder == self.root or not folder.is_relative_to(self.root):
                    break
                try:
                    folder.rmdir()
                except OSError:  # not empty
                    break

    def local_path(self, key: str) -> Path | None:
        """The file of ``key`` on this machine (it need not exist yet)."""
        return self._path(key)

    def read_chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes at ``key`` in pieces of ``size``."""
        try:
            with open(self._path(key), "rb") as fh:
                while chunk := fh.read(size):
                    yield chunk
        except FileNotFoundError:
            raise StorageError(f"{self.url(key)}: no such file") from None

    def move_file(self, key: str, path: Path) -> None:
        """Make the local file ``path`` the file at ``key`` (a rename when both are on one file
        system, so a reader never sees half a file); ``path`` is gone afterwards."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:
            # Another file system: copy next to the target first, then rename.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            try:
                shutil.copyfile(path, tmp)
                os.chmod(tmp, 0o666 & ~_umask())
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            Path(path).unlink()


@dataclass
class S3Storage:
    """A prefix in an S3 bucket (AWS or any S3-compatible server)."""

    bucket: str
    prefix: str
    client: object

    def _key(self, key: str) -> str:
        return "/".join(p for p in (self.prefix.strip("/"), key) if p)

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise StorageError(f"{self.url(key)}: no such object") from None
            raise StorageError(f"{self.url(key)}: cannot be read ({code or exc})") from None

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, content_type: str | None = None) -> bool:
        """Put ``data`` at ``key``. With ``if_absent`` the put is conditional (``If-None-Match: *``):
        S3 itself refuses it when the key exists, so two racing writers cannot both win."""
        from botocore.exceptions import ClientError

        extra = {"ContentType": content_type} if content_type else {}
        if if_absent:
            extra["IfNoneMatch"] = "*"
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if if_absent and code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise StorageError(f"{self.url(key)}: cannot be written ({code or exc})") from None
        return True

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"{self.url(key)}: cannot be checked ({exc})") from None

    def list(self, prefix: str = "") -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix)
        root = self._key("")
        out: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    out.append(item["Key"][len(root) + 1 if root else 0:])
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"{self.url(prefix)}: cannot be listed ({exc})") from None
        return sorted(out)

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the objects at ``keys`` (a missing one is no error), a thousand per request."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[start:start + 1000]]
            try:
                failed = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors", [])
            except (ClientError, BotoCoreError) as exc:
                raise StorageError(f"{self.url()}: cannot delete ({exc})") from None
            if failed:
                raise StorageError(f"{self.url(failed[0].get('Key', ''))}: cannot be deleted ({failed[0].get('Code')}) "
                                   f"and {len(failed) - 1} more")

    def local_path(self, key: str) -> Path | None:
        """None: an object has no file on this machine (download it with :meth:`read_chunks`)."""
        return None

    def read_chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes of the object at ``key`` in pieces of ``size``, as they arrive."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            yield from body.iter_chunks(size)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise StorageError(f"{self.url(key)}: no such object") from None
            raise StorageError(f"{self.url(key)}: cannot be read ({code or exc})") from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.url(key)}: cannot be read ({exc})") from None

    def move_file(self, key: str, path: Path) -> None:
        """Upload the local file ``path`` to ``key`` (in parts when large; the object appears
        whole when the upload completes), then remove ``path``."""
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.bucket, self._key(key),
                                    Config=TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK))
        except (S3UploadFailedError, ClientError, BotoCoreError) as exc:
            raise StorageError(f"{self.url(key)}: cannot be written ({exc})") from None
        Path(path).unlink()


@dataclass(frozen=True)
class S3Access:
    """S3 access an orchestrator hands in instead of the standard chain: a boto3 session (its
    credentials and region) and the endpoint of an S3-compatible server. Both override the
    configuration's ``s3`` section where they are given."""

    session: Any
    endpoint_url: str | None = None


_handed: ContextVar[S3Access | None] = ContextVar("cjm_s3_access", default=None)


@contextmanager
def handing_s3_access(access: S3Access | None) -> Iterator[None]:
    """Every S3 storage opened inside (inputs, workspace, version store, site) uses ``access``
    unless given another; ``None`` leaves the standard chain. The credentials stay in this
    process's memory: nothing is written to the environment, which subprocesses inherit."""
    token = _handed.set(access)
    try:
        yield
    finally:
        _handed.reset(token)


def s3_client(s3: S3Config | None = None, access: S3Access | None = None):
    """A boto3 S3 client with retries and backoff: from ``access`` (default: the one handed in
    with :func:`handing_s3_access`), else from the standard AWS credential chain."""
    import boto3
    from botocore.config import Config

    access = access or _handed.get()
    make_client = access.session.client if access else boto3.client
    return make_client(
        "s3",
        endpoint_url=(access.endpoint_url if access else None) or (s3.endpoint_url if s3 else None),
        region_name=(access.session.region_name if access else None) or (s3.region if s3 else None)
        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        # Standard mode retries throttling, 5xx and connection errors with jittered exponential backoff.
        config=Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def open_storage(location: str, s3: S3Config | None = None, access: S3Access | None = None) -> Storage:
    """A storage rooted at a local folder or at ``s3://bucket/prefix`` (``access``: see :func:`s3_client`)."""
    if is_s3(location):
        bucket, prefix = split_s3(location)
        return S3Storage(bucket, prefix, s3_client(s3, access))
    return LocalStorage(Path(location))


def expand_location(location: str, s3: S3Config | None = None) -> list[tuple[str, Storage, str]]:
    """The files a location names, in name order: ``[(display url, storage, key)]``.

    A location is a file, a folder (every file below it) or a glob in the last parts
    (``exports/*.csv``, ``s3://b/exports/2025Q1/part-*.parquet``).
    """
    if is_s3(location):
        bucket, key = split_s3(location)
        storage = S3Storage(bucket, "", s3_client(s3))
        if has_glob(key):
            fixed = key[: min(key.index(c) for c in "*?[" if c in key)]
            keys = [k for k in storage.list(fixed) if fnmatch.fnmatchcase(k, key)]
        else:
            keys = [k for k in storage.list(key) if k == key or k.startswith(key.rstrip("/") + "/")]
        return [(storage.url(k), storage, k) for k in keys]
    path = Path(location)
    if has_glob(location):
        anchor = Path(path.anchor or ".")
        matches = sorted(anchor.glob(str(path.relative_to(anchor)))) if path.is_absolute() else sorted(Path().glob(location))
        files = [p for p in matches if p.is_file()]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    else:
        files = [path] if path.is_file() else []
    local = LocalStorage(Path("/"))
    return [(str(p), local, str(p.resolve()).lstrip("/")) for p in files]
