"""Object storage as the catalog sees it: keys named like paths (``ObjectPath``) and the few requests the store
makes (``ObjectStore``), over s3fs, the client Nautilus's own ``ParquetDataCatalog`` uses for ``s3://``.

An ``ObjectPath`` is ``bucket/prefix/...`` as a ``PurePosixPath`` that carries its ``ObjectStore`` through ``/``,
``parent`` and ``with_name``, so the catalog's modules join and name paths as they do on disk and ask
``framework.catalog.storage`` to read or list them; ``str()`` of one is its ``s3://`` URL (what messages show).
A folder is only a key prefix: it exists while an object lies under it, and ``mkdir`` is a no-op.

The requests: listings (one folder, or every key under a prefix), ranged and whole reads, a PUT that creates
only (``If-None-Match: *``) or replaces only the version read (``If-Match: <etag>``), a server-side copy and a
(conditional) delete. Network and permission failures become one ``ObjectStoreError`` line naming the catalog
location and the fix, never a credential.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from pathlib import PurePosixPath
from typing import Any

from framework.errors import FrameworkError

SCHEME = "s3://"
SPOOL_PREFIX = "catalog-spool-"


class ObjectStoreError(FrameworkError):
    """The object store cannot be reached or refuses a request: one line naming the location and the fix."""


class PreconditionFailed(Exception):
    """A conditional request lost: the object exists (create) or changed since it was read (``If-Match``)."""


class ObjectPath(PurePosixPath):
    """A key of an object store written as a path (``bucket/prefix/data/bar/...``), carrying its ``ObjectStore``.

    ``str()`` is the ``s3://`` URL; ``key`` is the bucket-and-key form s3fs takes."""

    def __init__(self, *args: Any, store: ObjectStore | None = None) -> None:
        super().__init__(*args)
        if store is None:
            store = next((a.store for a in args if isinstance(a, ObjectPath)), None)
        self.store: ObjectStore = store  # type: ignore[assignment]

    def with_segments(self, *pathsegments: Any) -> ObjectPath:
        """A derived path (``/``, ``parent``, ``with_name``) on the same store."""
        return type(self)(*pathsegments, store=self.store)

    def __str__(self) -> str:
        return SCHEME + super().__str__()

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    @property
    def key(self) -> str:
        """``bucket/key``: the path as s3fs takes it."""
        return super().__str__()

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self.parts[0]

    @property
    def object_key(self) -> str:
        """The key inside the bucket."""
        return "/".join(self.parts[1:])

    def relative_to(self, other: Any, *_: Any, **__: Any) -> PurePosixPath:  # type: ignore[override]
        """The plain relative path from ``other`` (no store: a relative key names no object by itself)."""
        base = other.key if isinstance(other, ObjectPath) else str(other)
        return PurePosixPath(self.key).relative_to(base)

    def mkdir(self, *_: Any, **__: Any) -> None:
        """Nothing to do: a folder of an object store is only a key prefix."""

    def exists(self) -> bool:
        """Whether an object has this key or lies under it (a request)."""
        return self.store.head(self) is not None or self.is_dir()

    def is_dir(self) -> bool:
        """Whether any object lies under this prefix (a listing)."""
        return self.store.has_prefix(self)

    def read_bytes(self) -> bytes:
        """The object's bytes (FileNotFoundError when there is none)."""
        return self.store.get(self)


CatalogPath = Path | ObjectPath  # where a catalog file is: on disk or on object storage


@dataclass(frozen=True)
class ObjectEntry:
    """One object of a listing: its name in its folder, size in bytes and ETag (changes with every PUT)."""

    name: str
    size: int
    etag: str


def error_code(e: BaseException) -> str:
    """The S3 error code behind an s3fs exception ('' when it is not an S3 answer)."""
    cause = e if hasattr(e, "response") else e.__cause__
    response = getattr(cause, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def precondition_failed(e: BaseException) -> bool:
    """Whether ``e`` is a conditional request that lost (HTTP 412, or s3fs's FileExistsError for a create)."""
    return isinstance(e, FileExistsError) or error_code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict")


class ObjectStore:
    """The requests the catalog makes to one S3-compatible store (``fs``: an ``s3fs.S3FileSystem`` without a
    listings cache). ``where`` names the location in messages (the catalog URL and endpoint, no credential)."""

    def __init__(self, fs: Any, where: str) -> None:
        self.fs = fs
        self.where = where
        self._spool: Path | None = None

    # -- errors ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def talking(self, path: ObjectPath | str) -> Iterator[None]:
        """Requests about ``path``: a refused or failed connection, a denied request or a vanished bucket become
        one ``ObjectStoreError`` line; FileNotFoundError (no such key) and PreconditionFailed pass through."""
        try:
            yield
        except (FileNotFoundError, PreconditionFailed, ObjectStoreError):
            raise
        except FileExistsError as e:
            raise PreconditionFailed(str(path)) from e
        except PermissionError as e:
            raise ObjectStoreError(f"catalog {self.where}: access denied to {path} ({e}); check the credentials "
                                   "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy") from None
        except OSError as e:
            if precondition_failed(e):
                raise PreconditionFailed(str(path)) from e
            raise ObjectStoreError(f"catalog {self.where}: {path}: {describe_error(e)}") from None
        except Exception as e:  # botocore's connection and credential errors are not OSErrors
            if type(e).__module__.startswith(("botocore", "aiobotocore", "aiohttp")):
                raise ObjectStoreError(f"catalog {self.where}: {path}: {describe_error(e)}") from None
            raise

    # -- listings --------------------------------------------------------------------------------------------

    def ls(self, d: ObjectPath) -> list[ObjectEntry]:
        """The objects directly in the folder ``d`` (none when no key lies under it)."""
        with self.talking(d):
            try:
                infos = self.fs.ls(d.key, detail=True)
            except FileNotFoundError:
                return []
        return [_entry(i) for i in infos if i.get("type") == "file"]

    def subfolders(self, d: ObjectPath) -> list[str]:
        """The names of the visible folders (key prefixes) directly in ``d``."""
        with self.talking(d):
            try:
                infos = self.fs.ls(d.key, detail=True)
            except FileNotFoundError:
                return []
        names = [i["name"].rstrip("/").rsplit("/", 1)[-1] for i in infos if i.get("type") == "directory"]
        return [n for n in names if not n.startswith(".")]

    def find(self, top: ObjectPath) -> dict[ObjectPath, list[ObjectEntry]]:
        """Every object under ``top`` by folder (one paginated listing of the prefix)."""
        with self.talking(top):
            try:
                infos = self.fs.find(top.key, detail=True)
            except FileNotFoundError:
                return {}
        out: dict[ObjectPath, list[ObjectEntry]] = {}
        for key, info in sorted(infos.items()):
            if info.get("type", "file") != "file":
                continue
            path = ObjectPath(key, store=self)
            out.setdefault(path.parent, []).append(_entry(info))
        return out

    def has_prefix(self, d: ObjectPath) -> bool:
        """Whether any object lies under the folder ``d`` (one listing of at most one key)."""
        prefix = f"{d.object_key}/" if d.object_key else ""
        with self.talking(d):
            r = self.fs.call_s3("list_objects_v2", Bucket=d.bucket, Prefix=prefix, MaxKeys=1)
        return bool(r.get("KeyCount") or r.get("Contents"))

    def head(self, path: ObjectPath) -> ObjectEntry | None:
        """The object's entry (None: no such object)."""
        with self.talking(path):
            try:
                r = self.fs.call_s3("head_object", Bucket=path.bucket, Key=path.object_key)
            except FileNotFoundError:
                return None
        return ObjectEntry(path.name, int(r["ContentLength"]), r["ETag"])

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, path: ObjectPath, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes (``[start, end)`` when given; negative start: from the end)."""
        with self.talking(path):
            return self.fs.cat_file(path.key, start=start, end=end)

    def open(self, path: ObjectPath) -> Any:
        """A seekable file over the object (ranged reads, read ahead in 8 MB blocks), for ``pq.ParquetFile``."""
        with self.talking(path):
            return self.fs.open(path.key, "rb", block_size=8 * 2**20, cache_type="readahead")

    def get_versioned(self, path: ObjectPath) -> tuple[bytes, str, datetime, datetime]:
        """The object's bytes, ETag and last-modified time with the server's clock now (its ``Date`` header):
        a lease's age measured on one clock."""
        from fsspec.asyn import sync

        async def _get() -> tuple[dict[str, Any], bytes]:
            r = await self.fs._call_s3("get_object", Bucket=path.bucket, Key=path.object_key)
            try:
                return r, await r["Body"].read()
            finally:
                r["Body"].close()

        with self.talking(path):
            r, body = sync(self.fs.loop, _get)
        date = r.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = parsedate_to_datetime(date) if date else r["LastModified"]
        return body, r["ETag"], r["LastModified"], now

    # -- writing ---------------------------------------------------------------------------------------------

    def put(self, path: ObjectPath, data: bytes, *, create: bool = False, if_match: str | None = None) -> str:
        """PUT ``data`` (``create``: only if no object has the key; ``if_match``: only over that version);
        returns the new ETag. A lost condition is ``PreconditionFailed``."""
        cond = {"IfNoneMatch": "*"} if create else {"IfMatch": if_match} if if_match else {}
        with self.talking(path):
            r = self.fs.call_s3("put_object", Bucket=path.bucket, Key=path.object_key, Body=data, **cond)
        return r["ETag"]

    def put_file(self, local: Path, path: ObjectPath, *, create: bool = True) -> None:
        """Upload a finished local file as ``path`` in one PUT (a multipart upload above 100 MB), visible only
        once complete; ``create``: only if no object has the key (``PreconditionFailed`` otherwise)."""
        with self.talking(path):
            self.fs.put_file(str(local), path.key, mode="create" if create else "overwrite")

    def copy(self, src: ObjectPath, dst: ObjectPath) -> None:
        """Server-side copy of ``src`` onto ``dst`` (no bytes through this machine)."""
        with self.talking(dst):
            self.fs.copy(src.key, dst.key)

    def delete(self, path: ObjectPath, if_match: str | None = None) -> bool:
        """Delete the object (only that version with ``if_match``); False when it was gone or had changed."""
        cond = {"IfMatch": if_match} if if_match else {}
        with self.talking(path):
            try:
                self.fs.call_s3("delete_object", Bucket=path.bucket, Key=path.object_key, **cond)
            except FileNotFoundError:
                return False
            except PreconditionFailed:
                return False
        return True

    # -- local spool -----------------------------------------------------------------------------------------

    @property
    def spool(self) -> Path:
        """This process's local folder for files being encoded before their upload (the spools of processes
        that died are removed when it is made)."""
        if self._spool is None:
            base = Path(tempfile.gettempdir())
            for old in base.glob(f"{SPOOL_PREFIX}*"):
                pid = old.name[len(SPOOL_PREFIX):]
                if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    shutil.rmtree(old, ignore_errors=True)
            self._spool = base / f"{SPOOL_PREFIX}{os.getpid()}"
            self._spool.mkdir(exist_ok=True)
        return self._spool


def _entry(info: dict[str, Any]) -> ObjectEntry:
    return ObjectEntry(info["name"].rsplit("/", 1)[-1], int(info.get("size") or 0),
                       str(info.get("ETag") or info.get("etag") or ""))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_error(e: BaseException) -> str:
    """What went wrong, for a user, without the request's signature or credentials."""
    name = type(e).__name__
    if "EndpointConnectionError" in name or "ConnectTimeout" in name or "ConnectionError" in name \
            or isinstance(e, ConnectionError) or getattr(e, "errno", None) in (errno.ECONNREFUSED, errno.ETIMEDOUT):
        return "cannot reach the object store (connection failed); check AWS_ENDPOINT_URL and that the server runs"
    if "NoCredentials" in name or "PartialCredentials" in name:
        return "no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    code = error_code(e)
    if code in ("NoSuchBucket",):
        return "the bucket does not exist; create it or fix the catalog URL"
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
        return "access denied; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy"
    text = str(e).strip().splitlines()[0] if str(e).strip() else name
    return f"request failed ({text[:200]})"
