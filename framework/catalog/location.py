"""Where a catalog lives: a local folder or ``s3://bucket/prefix`` on S3-compatible object storage.

``open_location(value)`` is the one place a catalog location is opened: every command, the store, health, the
backtest's data configs and Nautilus's own ``ParquetDataCatalog`` get their filesystem and options from the
``CatalogLocation`` it returns. For ``s3://`` the endpoint and credentials come from the standard AWS variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL``, ``AWS_REGION`` or
``AWS_DEFAULT_REGION``) and go into the two option sets Nautilus needs: fsspec/s3fs's (``storage_options``,
Python side) and the Rust object store's (``rust_storage_options``; without them its DataFusion backend asks the
EC2 metadata service). Credentials are never logged, printed or written: ``repr`` leaves them out and
``redact`` blanks them in anything written to disk (``run_config.json``).

Opening an ``s3://`` location checks, before any work and in one line each (exit 1): credentials missing, the
endpoint unreachable (short connect timeout, one attempt), the bucket missing, access denied; a writer also
checks that it may write (``require_ready(write=True)``: one small object put and deleted).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from pathlib import PurePath
from typing import Any

from framework.catalog.objectstore import SCHEME
from framework.catalog.objectstore import CatalogPath
from framework.catalog.objectstore import ObjectPath
from framework.catalog.objectstore import ObjectStore
from framework.catalog.objectstore import describe_error
from framework.catalog.objectstore import error_code
from framework.errors import FrameworkError

DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT = 5  # seconds; a store that does not answer fails fast
READ_TIMEOUT = 120
ATTEMPTS = 3  # botocore attempts per request in normal work
PROBE_CONNECT_TIMEOUT = 3  # the opening checks: one attempt each
SECRET_KEYS = frozenset({"key", "secret", "token", "access_key_id", "secret_access_key", "session_token",
                         "aws_access_key_id", "aws_secret_access_key", "aws_session_token"})
#: Where Nautilus configs carry the option sets (``redact`` blanks the credentials inside them).
OPTION_FIELDS = frozenset({"catalog_fs_storage_options", "catalog_fs_rust_storage_options", "fs_storage_options",
                           "fs_rust_storage_options", "storage_options"})
#: The S3 client's own loggers: at DEBUG they print each request's headers (the access key in its signature).
CLIENT_LOGGERS = ("botocore", "aiobotocore", "s3fs", "fsspec", "urllib3")


def is_object_url(value: object) -> bool:
    """Whether a catalog location (a string or a path) names object storage (``s3://``)."""
    return isinstance(value, ObjectPath) or (isinstance(value, str) and value.strip().lower().startswith(SCHEME))


@dataclass(frozen=True)
class S3Access:
    """Endpoint, region and credentials of an S3-compatible store, from the AWS variables (secrets not in repr)."""

    endpoint: str | None
    region: str
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> S3Access:
        """Read ``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION`` and the credentials."""
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(get("AWS_ENDPOINT_URL"), get("AWS_REGION") or get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
                   get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"), get("AWS_SESSION_TOKEN"))

    @property
    def where(self) -> str:
        """The endpoint as messages name it."""
        return self.endpoint or "AWS S3"

    def storage_options(self, connect_timeout: float = CONNECT_TIMEOUT, attempts: int = ATTEMPTS) -> dict[str, Any]:
        """s3fs's options (what ``fsspec.filesystem("s3", **options)`` and Nautilus's ``fs_storage_options`` take)."""
        options: dict[str, Any] = {
            "key": self.key, "secret": self.secret,
            "client_kwargs": {"region_name": self.region},
            "config_kwargs": {"connect_timeout": connect_timeout, "read_timeout": READ_TIMEOUT,
                              "retries": {"max_attempts": attempts, "mode": "standard"}},
            "use_listings_cache": False,  # a listing must show what other writers did a moment ago
        }
        if self.token:
            options["token"] = self.token
        if self.endpoint:
            options["endpoint_url"] = self.endpoint
        return options

    def rust_storage_options(self) -> dict[str, str]:
        """The Rust object store's options (Nautilus's ``fs_rust_storage_options``)."""
        options = {"region": self.region, "access_key_id": self.key or "", "secret_access_key": self.secret or ""}
        if self.token:
            options["session_token"] = self.token
        if self.endpoint:
            options["endpoint_url"] = self.endpoint
            if self.endpoint.startswith("http://"):
                options["allow_http"] = "true"
        return options


class CatalogLocation:
    """One catalog location: its ``root`` (a ``Path``, or an ``ObjectPath`` carrying its ``ObjectStore``), the
    filesystem and options Nautilus reads it with, and the checks run before any work."""

    def __init__(self, url: str, access: S3Access | None = None) -> None:
        self.url = url
        self.access = access
        self._ready: set[bool] = set()
        if access is None:
            self.root: CatalogPath = Path(url)
            self.store: ObjectStore | None = None
            return
        bucket_and_prefix = url[len(SCHEME):].strip("/")
        self.bucket = bucket_and_prefix.split("/", 1)[0]
        self.store = ObjectStore(_s3fs(access.storage_options(), attempts=ATTEMPTS), f"{url} ({access.where})")
        self.root = ObjectPath(bucket_and_prefix, store=self.store)

    def __repr__(self) -> str:
        return f"CatalogLocation({self.url!r}, {self.access!r})"

    @property
    def is_remote(self) -> bool:
        """Whether the catalog is on object storage."""
        return self.access is not None

    @property
    def fs(self) -> Any:
        """The fsspec filesystem holding the catalog."""
        if self.store is not None:
            return self.store.fs
        import fsspec

        return fsspec.filesystem("file")

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec options for Nautilus's ``fs_storage_options`` (empty for a local folder)."""
        return self.access.storage_options() if self.access is not None else {}

    @property
    def rust_storage_options(self) -> dict[str, str]:
        """Options for Nautilus's ``fs_rust_storage_options`` (empty for a local folder)."""
        return self.access.rust_storage_options() if self.access is not None else {}

    def nautilus_catalog(self, **kwargs: Any) -> Any:
        """Nautilus's own ``ParquetDataCatalog`` over this location."""
        from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

        if self.access is None:
            return ParquetDataCatalog(str(self.root), **kwargs)
        return ParquetDataCatalog(self.url, fs_protocol="s3", fs_storage_options=self.storage_options,
                                  fs_rust_storage_options=self.rust_storage_options, **kwargs)

    def data_config(self) -> dict[str, Any]:
        """The catalog fields of a Nautilus ``BacktestDataConfig`` (path, and for object storage the protocol and
        both option sets: credentials included, so write such a config only through ``redact``)."""
        if self.access is None:
            return {"catalog_path": str(self.root)}
        return {"catalog_path": self.url, "catalog_fs_protocol": "s3",
                "catalog_fs_storage_options": self.storage_options,
                "catalog_fs_rust_storage_options": self.rust_storage_options}

    def require_ready(self, write: bool = False) -> None:
        """Object storage: one ``FrameworkError`` line (exit 1) when credentials are missing, the endpoint does
        not answer, the bucket does not exist or access is denied; ``write``: also that an object may be put.
        Run once per process; nothing is left behind."""
        if self.access is None or write in self._ready or True in self._ready:
            return
        access = self.access
        if not access.key or not access.secret:
            raise FrameworkError(f"catalog {self.url}: no credentials for object storage; set AWS_ACCESS_KEY_ID "
                                 "and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other than AWS S3)")
        probe = _s3fs(access.storage_options(PROBE_CONNECT_TIMEOUT, attempts=1), attempts=1)
        try:
            probe.call_s3("head_bucket", Bucket=self.bucket)
            if write:
                key = f"{self.root.object_key}/.locks/.probe-{uuid.uuid4().hex}".lstrip("/")  # type: ignore[union-attr]
                probe.call_s3("put_object", Bucket=self.bucket, Key=key, Body=b"", IfNoneMatch="*")
                probe.call_s3("delete_object", Bucket=self.bucket, Key=key)
        except Exception as e:  # noqa: BLE001 (every failure becomes the one line naming it)
            raise FrameworkError(self._refusal(e, write)) from None
        self._ready.add(write)

    def _refusal(self, e: BaseException, write: bool) -> str:
        """The one line for a failed opening check (never a credential)."""
        code, where = error_code(e), self.access.where  # type: ignore[union-attr]
        if isinstance(e, FileNotFoundError) or code in ("404", "NoSuchBucket"):
            return (f"catalog {self.url}: bucket {self.bucket} does not exist at {where}; create it (e.g. aws s3 mb "
                    f"s3://{self.bucket}) or fix the catalog URL")
        if isinstance(e, PermissionError) or code in ("403", "AccessDenied", "InvalidAccessKeyId",
                                                      "SignatureDoesNotMatch", "AllAccessDisabled"):
            what = "writing to" if write else "reading"
            return (f"catalog {self.url}: access denied {what} bucket {self.bucket} at {where}; check "
                    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy")
        reason = describe_error(e)
        if reason.startswith("cannot reach"):
            return (f"catalog {self.url}: cannot reach the object store at {where}; check AWS_ENDPOINT_URL and "
                    "that the server runs")
        return f"catalog {self.url}: the object store at {where} refused: {reason}"


def _s3fs(options: dict[str, Any], attempts: int) -> Any:
    """A private s3fs filesystem (no instance or listing cache), retrying a failed request ``attempts`` times."""
    import s3fs

    for name in CLIENT_LOGGERS:  # never below WARNING, whatever --log-level says
        logging.getLogger(name).setLevel(logging.WARNING)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    fs.retries = max(1, attempts)  # s3fs's own retry loop (a class attribute, not an option)
    return fs


_LOCATIONS: dict[tuple[int, str, S3Access | None], CatalogLocation] = {}


def open_location(value: str | PurePath) -> CatalogLocation:
    """The location of a catalog given as a folder, a path or an ``s3://`` URL (one object per process and
    location; an object store's is checked before it is returned: ``require_ready``)."""
    if isinstance(value, ObjectPath):
        value = str(value)
    text = str(value).strip()
    access = S3Access.from_env() if is_object_url(text) else None
    if access is not None:
        text = SCHEME + text[len(SCHEME):].strip("/")
    key = (os.getpid(), text, access)  # a forked child opens its own (an s3fs client does not survive a fork)
    location = _LOCATIONS.get(key)
    if location is None:
        location = _LOCATIONS[key] = CatalogLocation(text, access)
    location.require_ready()
    return location


def catalog_root(value: str | PurePath) -> CatalogPath:
    """The root of a catalog given as a folder, a path or an ``s3://`` URL (an ``ObjectPath`` for the latter)."""
    if isinstance(value, (Path, ObjectPath)):
        return value
    if is_object_url(str(value)):
        return open_location(value).root
    return Path(value)


def nautilus_catalog(value: str | PurePath, **kwargs: Any) -> Any:
    """Nautilus's ``ParquetDataCatalog`` over the catalog at ``value`` (a folder or an ``s3://`` URL)."""
    return open_location(value).nautilus_catalog(**kwargs)


def redact(value: Any, inside_options: bool = False) -> Any:
    """``value`` (nested dicts and lists) with the credentials in its storage option sets (``OPTION_FIELDS``)
    replaced by ``"***"``: what may be written."""
    if isinstance(value, dict):
        return {k: "***" if inside_options and k in SECRET_KEYS and v else redact(v, inside_options or
                                                                                    k in OPTION_FIELDS)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, inside_options) for v in value)
    return value

