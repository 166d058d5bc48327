"""S3-compatible object storage (MinIO, AWS S3, ...) for CAD artifact files, through the MinIO SDK.

The SDK is synchronous (urllib3); callers run it in a thread. Every call has a connect and a read
timeout and at most one retry, and every failure becomes a typed `S3StorageError` whose message
names the endpoint and bucket: the artifact store falls back to local files on any of them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
import contextlib
from dataclasses import dataclass
import re
from typing import Any, Final
from urllib.parse import urlsplit

from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    SSLError,
    TimeoutError as Urllib3Timeout,
)

from .errors import CadError

DEFAULT_REGION: Final = "us-east-1"  # MinIO's default region too
DEFAULT_TIMEOUT: Final = 10.0
CHUNK: Final = 64 * 1024
# S3 bucket naming rules (also what MinIO enforces): 3-63 of a-z 0-9 . -, starting and ending
# with a letter or digit.
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_AUTH_CODES: Final = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
    }
)


class S3StorageError(CadError):
    """Object storage failed; the message says what and where."""

    code = "s3_error"


class S3ConfigError(S3StorageError):
    """The `cad.s3_*` options do not describe a usable bucket (nothing was contacted)."""

    code = "s3_invalid_options"

    def __init__(self, problems: list[str]) -> None:
        """Every problem, one per item."""
        super().__init__("; ".join(problems))
        self.problems = problems


class S3BucketMissingError(S3StorageError):
    """The bucket does not exist on the endpoint."""

    code = "s3_bucket_missing"


class S3AuthError(S3StorageError):
    """The access key is unknown, the secret key wrong, or the key may not use the bucket."""

    code = "s3_auth"


class S3UnreachableError(S3StorageError):
    """The endpoint refused the connection, does not resolve, or failed TLS."""

    code = "s3_unreachable"


class S3TimeoutError(S3StorageError):
    """The endpoint did not answer within the timeout."""

    code = "s3_timeout"


class S3ObjectMissingError(S3StorageError):
    """The object a lineage row points to is no longer in the bucket."""

    code = "s3_object_missing"


@dataclass(frozen=True, slots=True)
class S3Options:
    """Where artifact files go; `secret_key` stays out of repr."""

    endpoint_url: str
    bucket: str
    access_key: str | None = None
    secret_key: str | None = None
    region: str = DEFAULT_REGION
    prefix: str = ""
    verify_tls: bool = True
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:
        """Without the keys."""
        return f"S3Options(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def location(self) -> str:
        """`<endpoint>/<bucket>` for messages."""
        return f"{self.endpoint_url.rstrip('/')}/{self.bucket}"


def options_from(cad: Mapping[str, Any]) -> S3Options | None:
    """The S3 options of the `cad` group, or None when `s3_endpoint_url` is not set.

    Raises S3ConfigError naming every problem (checked without contacting the endpoint).
    """
    keys = (
        "s3_bucket",
        "s3_access_key",
        "s3_secret_key",
        "s3_region",
        "s3_prefix",
        "s3_verify_tls",
    )
    endpoint = cad.get("s3_endpoint_url")
    if not endpoint:
        if stray := [k for k in keys if cad.get(k) not in (None, "")]:
            raise S3ConfigError([f"cad.{', cad.'.join(stray)} given without cad.s3_endpoint_url"])
        return None
    problems: list[str] = []
    parts = urlsplit(str(endpoint))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            f"cad.s3_endpoint_url {endpoint!r} must be http://host[:port] or https://host[:port]"
        )
    elif parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        problems.append(
            f"cad.s3_endpoint_url {endpoint!r} must have no path, query or user"
            " (put the bucket in cad.s3_bucket and a folder in cad.s3_prefix)"
        )
    else:
        try:
            _ = parts.port
        except ValueError:
            problems.append(f"cad.s3_endpoint_url {endpoint!r} has an invalid port")
    bucket = str(cad.get("s3_bucket") or "")
    if not bucket:
        problems.append("cad.s3_bucket is required with cad.s3_endpoint_url")
    elif not _BUCKET_RE.match(bucket) or ".." in bucket:
        problems.append(
            f"cad.s3_bucket {bucket!r} is not a valid bucket name"
            " (3-63 characters: lower-case letters, digits, dots and hyphens)"
        )
    access, secret = cad.get("s3_access_key"), cad.get("s3_secret_key")
    if bool(access) != bool(secret):
        problems.append("cad.s3_access_key and cad.s3_secret_key go together: set both or neither")
    prefix = str(cad.get("s3_prefix") or "").strip("/")
    if prefix and ("//" in prefix or any(p in (".", "..") for p in prefix.split("/"))):
        problems.append(f"cad.s3_prefix {prefix!r} must be a plain folder path such as jarvis/cad")
    if problems:
        raise S3ConfigError(problems)
    return S3Options(
        endpoint_url=str(endpoint).rstrip("/"),
        bucket=bucket,
        access_key=str(access) if access else None,
        secret_key=str(secret) if secret else None,
        region=str(cad.get("s3_region") or DEFAULT_REGION),
        prefix=f"{prefix}/" if prefix else "",
        verify_tls=bool(cad.get("s3_verify_tls", True)),
    )


class S3Storage:
    """put / open / stat of objects in one bucket; thread-safe (urllib3's pool is)."""

    def __init__(self, options: S3Options) -> None:
        """Build the client; nothing is contacted until the first call."""
        self.options = options
        parts = urlsplit(options.endpoint_url)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=options.timeout, read=options.timeout),
            maxsize=4,
            cert_reqs="CERT_REQUIRED" if options.verify_tls else "CERT_NONE",
            # One retry for a dropped connection or a 5xx; the store falls back to local files
            # rather than waiting through the SDK's default five.
            retries=urllib3.Retry(
                total=1,
                connect=1,
                read=0,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
                raise_on_status=False,  # the SDK turns the last 5xx answer into its own error
            ),
        )
        self._client = Minio(
            parts.netloc,
            access_key=options.access_key,
            secret_key=options.secret_key,
            secure=parts.scheme == "https",
            region=options.region,  # known region: no GetBucketLocation round trip
            http_client=http,
            cert_check=options.verify_tls,
        )

    def key(self, job_id: str, name: str) -> str:
        """The object key of a job's file."""
        return f"{self.options.prefix}{job_id}/{name}"

    def check(self) -> None:
        """Raise a typed error unless the bucket exists and the credentials may use it."""
        with self._errors("checking the bucket"):
            exists = self._client.bucket_exists(self.options.bucket)
        if not exists:
            raise self._missing_bucket()

    def put(self, key: str, path: str, *, sha256: str, content_type: str) -> str:
        """Upload a file; returns the object's ETag."""
        with self._errors(f"uploading {key}"):
            result = self._client.fput_object(
                self.options.bucket,
                key,
                path,
                content_type=content_type,
                metadata={"sha256": sha256},
            )
        return str(result.etag)

    def open(self, key: str) -> Generator[bytes]:
        """The object's bytes in chunks (the connection is released when the iterator ends or closes).

        The request is made before this returns, so a missing object or a dead endpoint raises here.
        """
        with self._errors(f"reading {key}", key):
            response = self._client.get_object(self.options.bucket, key)

        def chunks() -> Generator[bytes]:
            try:
                with self._errors(f"reading {key}", key):
                    yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()

        return chunks()

    def delete(self, key: str) -> None:
        """Remove an object (tests and clean-up)."""
        with self._errors(f"deleting {key}"):
            self._client.remove_object(self.options.bucket, key)

    def _missing_bucket(self) -> S3BucketMissingError:
        return S3BucketMissingError(
            f"S3 bucket {self.options.bucket!r} does not exist at {self.options.endpoint_url}"
            " (create it, or fix cad.s3_bucket)"
        )

    @contextlib.contextmanager
    def _errors(self, doing: str, key: str | None = None) -> Iterator[None]:
        """SDK and transport exceptions → typed errors that say what was being done and where."""
        where = self.options.location
        try:
            yield
        except S3Error as err:
            if err.code == "NoSuchBucket":
                raise self._missing_bucket() from err
            if err.code in _AUTH_CODES:
                raise S3AuthError(
                    f"S3 refused the credentials while {doing} at {where}: {err.code}"
                    " (check cad.s3_access_key, cad.s3_secret_key and the key's bucket policy)"
                ) from err
            if err.code in ("NoSuchKey", "NoSuchObject"):
                raise S3ObjectMissingError(f"S3 object {key!r} is gone from {where}") from err
            raise S3StorageError(
                f"S3 error while {doing} at {where}: {err.code}: {err.message}"
            ) from err
        except (ServerError, InvalidResponseError) as err:
            raise S3StorageError(f"S3 answered badly while {doing} at {where}: {err}") from err
        except MinioException as err:
            raise S3StorageError(f"S3 client error while {doing} at {where}: {err}") from err
        except NewConnectionError as err:  # before Urllib3Timeout: urllib3 derives it from that
            raise S3UnreachableError(
                f"cannot reach S3 at {self.options.endpoint_url} while {doing}: {err}"
            ) from err
        except Urllib3Timeout as err:
            raise S3TimeoutError(
                f"S3 at {self.options.endpoint_url} did not answer within {self.options.timeout:g} s"
                f" while {doing}"
            ) from err
        except SSLError as err:
            raise S3UnreachableError(
                f"TLS to S3 at {self.options.endpoint_url} failed while {doing}: {err}"
                " (self-signed certificate? set cad.s3_verify_tls: false)"
            ) from err
        except HTTPError as err:
            reason = getattr(err, "reason", None) or err
            if isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError):
                raise S3TimeoutError(
                    f"S3 at {self.options.endpoint_url} did not answer within"
                    f" {self.options.timeout:g} s while {doing}"
                ) from err
            raise S3UnreachableError(
                f"cannot reach S3 at {self.options.endpoint_url} while {doing}: {reason}"
            ) from err
        except OSError as err:
            raise S3UnreachableError(
                f"cannot reach S3 at {self.options.endpoint_url} while {doing}: {err}"
            ) from err
