"""One small interface over a local folder and an S3 prefix.

``open_storage("/some/folder")`` and ``open_storage("s3://bucket/prefix", s3)`` return objects with
the same methods; keys are ``/``-separated paths below the root. S3 credentials come from the
standard AWS chain (environment, profile, instance role), or from an :class:`S3Access` an
orchestrator hands in (a boto3 session built from an Airflow connection): passed to
:func:`open_storage` or held by :func:`handing_s3_access` for everything opened inside it. The
endpoint URL is configurable for S3-compatible servers (MinIO, moto). Transient S3 errors are
retried with exponential backoff by botocore's standard retry mode (``AWS_MAX_ATTEMPTS`` attempts
in all, default :data:`DEFAULT_ATTEMPTS`); a server still unreachable after them is a
:class:`StorageError` naming the endpoint, the location and the attempts.

A folder's files are written whole: into its hidden staging folder (:data:`STAGING`, on the same
file system), then renamed into place, so an interrupted write never leaves a partial file among
the keys (in a published site, among the pages). What an interrupted write leaves in the staging
folder is named after its host and process, so :meth:`LocalStorage.remove_temporaries` removes it
once that process is gone (or after :data:`TEMP_MAX_AGE` seconds) and never a live writer's.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import shutil
import socket
import tempfile
import time
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

# S3 requests are tried this many times in all (first try included) unless AWS_MAX_ATTEMPTS says otherwise.
DEFAULT_ATTEMPTS = 10

# A folder's writes go through this hidden folder at its root (same file system, so a rename puts
# the file in place); hidden names are never keys.
STAGING = ".cjm-tmp"
# A temporary file older than this is left over whoever made it: no single write takes this long.
TEMP_MAX_AGE = 3600


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
    def check_writable(self) -> None: ...
    def temporaries(self) -> list[str]: ...
    def remove_temporaries(self) -> list[str]: ...


def key_part(text: str) -> str:
    """``text`` made safe as one part of a key or file name (run ids hold ``:`` and ``+``):
    runs of characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "_"


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
        except OSError as exc:
            raise StorageError(f"{self.url(key)}: cannot be read ({exc.strerror or exc})") from None

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, content_type: str | None = None) -> bool:
        """Write ``data`` at ``key`` atomically (a file in the staging folder, then renamed).

        With ``if_absent`` the write only happens when the key does not exist yet; the return
        value says whether it happened. The check and the create are one step (``os.link``
        fails when the target exists), so two racing writers cannot both win. Raises
        :class:`StorageError` when the file cannot be written (a name too long, a folder that
        is a file, no permission, a full disk).
        """
        target = self._path(key)
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = self._temp_file()
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
        except OSError as exc:
            raise StorageError(f"{self.url(key)}: cannot be written ({exc.strerror or exc})") from None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            self._drop_staging()

    def _temp_file(self) -> tuple[int, str]:
        """A new file in the staging folder, readable as a published file must be (mkstemp makes
        0600 files; a web server serving a site must read them): (descriptor, path). Its name
        says which host and process writes it, for :meth:`remove_temporaries`."""
        staging = self.root / STAGING
        for _ in range(10):
            try:
                # mkdir(exist_ok=True) raises FileExistsError when the folder another writer made
                # is removed again before it looks; mkstemp, FileNotFoundError when it is removed
                # after: either way another writer removed it, empty, in between.
                staging.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=staging, prefix=f".{_host()}.{os.getpid()}.", suffix=".tmp")
                break
            except (FileNotFoundError, FileExistsError):
                continue
        else:
            raise OSError(errno.ENOENT, f"{staging} keeps disappearing")
        os.fchmod(fd, 0o666 & ~_umask())
        return fd, tmp

    def _drop_staging(self) -> None:
        """Remove the staging folder when no write is using it, so a finished write leaves
        nothing but its file (a writer that loses it to this makes it again)."""
        try:
            (self.root / STAGING).rmdir()
        except OSError:  # absent, or another write is in progress
            pass

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix)
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(self._files(base, lambda name: not name.startswith("."), hidden_folders=False))

    def _files(self, base: Path, wanted, hidden_folders: bool) -> list[str]:
        """Keys of the files below ``base`` whose names are ``wanted``. A folder that disappears
        while it is walked (the staging folder of a write that just finished, in another
        process) is skipped, where ``Path.rglob`` raises."""
        found = []
        for folder, folders, files in os.walk(base):  # os.walk ignores a folder it can no longer list
            if not hidden_folders:
                folders[:] = [f for f in folders if not f.startswith(".")]
            found += [os.path.relpath(os.path.join(folder, f), self.root).replace(os.sep, "/") for f in files if wanted(f)]
        return found

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
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                # Another file system: copy into the staging folder first, then rename.
                fd, tmp = self._temp_file()
                try:
                    with os.fdopen(fd, "wb") as fh, open(path, "rb") as src:
                        shutil.copyfileobj(src, fh, CHUNK)
                    os.replace(tmp, target)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    self._drop_staging()
                Path(path).unlink()
        except OSError as exc:
            raise StorageError(f"{self.url(key)}: cannot be written ({exc.strerror or exc})") from None

    def check_writable(self) -> None:
        """Raise :class:`StorageError` unless the root is a folder this process can write in, or
        can be created (its nearest existing parent is such a folder). Creates nothing."""
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.exists() and not existing.is_dir():
            where = "is a file" if existing == self.root else f"cannot be created: {existing} is a file"
            raise StorageError(f"{self.root}: {where}; expected a folder (or a path where one can be created)")
        if not os.access(existing, os.W_OK | os.X_OK):
            where = "is a folder" if existing == self.root else f"would be created in {existing}, a folder"
            raise StorageError(f"{self.root}: {where} this user ({_user()}) cannot write in")

    def temporaries(self) -> list[str]:
        """Temporary files interrupted writes left (relative paths): in the staging folder, and
        beside their targets (``.<name>.<random>.tmp``, where versions before the staging folder
        wrote them)."""
        if not self.root.is_dir():
            return []
        return sorted(self._files(self.root, lambda name: name.startswith(".") and name.endswith(".tmp"), hidden_folders=True))

    def remove_temporaries(self) -> list[str]:
        """Remove the temporary files no live writer owns: those of processes gone from this
        host, older than :data:`TEMP_MAX_AGE`, or beside their targets (no current writer puts
        them there); returns what was removed. Another live run's files are left alone."""
        removed = []
        now = time.time()
        for name in self.temporaries():
            path = self._path(name)
            owned = name.startswith(f"{STAGING}/") and _writer_alive(path.name)
            try:
                if owned and now - path.stat().st_mtime < TEMP_MAX_AGE:
                    continue
                path.unlink()
            except FileNotFoundError:  # its writer finished or another cleaner was first
                continue
            removed.append(name)
        self._drop_staging()
        return removed


def _host() -> str:
    return socket.gethostname().replace("/", "_") or "host"


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _writer_alive(name: str) -> bool:
    """Whether the process a staging file's name ``.<host>.<pid>.<random>.tmp`` names still runs
    (a process on another host is taken as alive: only its age can tell)."""
    host, _, rest = name[1:-len(".tmp")].rpartition(".")[0].rpartition(".")
    if host != _host():
        return True
    try:
        os.kill(int(rest), 0)
    except ValueError:
        return False
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


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

    @contextmanager
    def _reaching(self, key: str = "") -> Iterator[None]:
        """Turn a server that could not be reached after every retry into a :class:`StorageError`
        naming the endpoint, the location and the attempts (botocore raises its own
        connection errors only once the retry budget is spent); missing credentials too."""
        from botocore.exceptions import ConnectionError, HTTPClientError, NoCredentialsError, PartialCredentialsError

        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StorageError(f"{self.url(key)}: no usable S3 credentials ({exc}): set them in the environment, a profile, "
                               "an instance role, or the Airflow connection CJM_AWS_CONN_ID names") from None
        except (ConnectionError, HTTPClientError) as exc:
            meta = getattr(self.client, "meta", None)
            endpoint = getattr(meta, "endpoint_url", None) or "the S3 endpoint"
            attempts = (getattr(getattr(meta, "config", None), "retries", None) or {}).get("total_max_attempts", "several")
            raise StorageError(f"{self.url(key)}: the S3 storage at {endpoint} could not be reached after {attempts} attempts "
                               f"({exc})") from None

    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            with self._reaching(key):
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
            with self._reaching(key):
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
            with self._reaching(key):
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
            with self._reaching(prefix):
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
                with self._reaching():
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
            with self._reaching(key):
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
            with self._reaching(key):
                self.client.upload_file(str(path), self.bucket, self._key(key),
                                        Config=TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK))
        except (S3UploadFailedError, ClientError, BotoCoreError) as exc:
            raise StorageError(f"{self.url(key)}: cannot be written ({exc})") from None
        Path(path).unlink()

    def check_writable(self) -> None:
        """Raise :class:`StorageError` unless the bucket exists and answers (whether a write will
        be allowed only a write can tell, and this check writes nothing)."""
        from botocore.exceptions import ClientError

        try:
            with self._reaching():
                # Listing this location, not HEAD on the bucket: a least-privilege user may list
                # only its prefixes, and HEAD needs the right to list the whole bucket.
                self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key("") + "/" if self.prefix.strip("/") else "", MaxKeys=1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"{self.url()}: bucket {self.bucket!r} does not exist") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise StorageError(f"{self.url()}: access to bucket {self.bucket!r} denied (check the credentials and the bucket policy)") from None
            raise StorageError(f"{self.url()}: bucket {self.bucket!r} cannot be checked ({code or exc})") from None

    def temporaries(self) -> list[str]:
        """None: an object appears whole when its PUT or upload completes."""
        return []

    def remove_temporaries(self) -> list[str]:
        return []


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
        config=Config(retries={"total_max_attempts": retry_attempts(), "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def retry_attempts() -> int:
    """How many times an S3 request is tried in all: ``AWS_MAX_ATTEMPTS`` (the AWS tools'
    setting) when it is a whole number of at least 1, else :data:`DEFAULT_ATTEMPTS`."""
    text = os.environ.get("AWS_MAX_ATTEMPTS", "").strip()
    if not text:
        return DEFAULT_ATTEMPTS
    if not text.isdigit() or int(text) < 1:
        raise StorageError(f"AWS_MAX_ATTEMPTS={text!r}: expected a whole number of attempts, 1 or more")
    return int(text)


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
