"""A real S3-compatible server on a free loopback port: moto's server (S3 REST wire format).

MinIO itself cannot be installed here, so the CAD store's S3 tests point the real MinIO SDK at
`python -m moto.server`, run as a child process and stopped by its PID. Authentication is
enforced like MinIO does it: the first three requests (creating an IAM user, its S3 policy and its
access key) are the only unauthenticated ones; after that every request must carry a valid
SigV4 signature from a known key, so wrong keys give the errors a real MinIO gives.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
import json
import os
import signal
import subprocess
import sys
from typing import Any

import boto3

from tests.support.mosquitto import free_port, wait_for_port

_SETUP_REQUESTS = 3  # CreateUser, PutUserPolicy, CreateAccessKey
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running moto server with one IAM user allowed s3:*."""

    url: str
    access_key: str
    secret_key: str
    proc: subprocess.Popen[bytes] = field(repr=False)

    def client(self, *, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A boto3 S3 client (the tests' own view of the bucket, independent of the MinIO SDK)."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
        )

    def make_bucket(self, name: str) -> str:
        """Create a bucket; returns its name."""
        self.client().create_bucket(Bucket=name)
        return name

    def read(self, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
        """An object's bytes and its user metadata."""
        got = self.client().get_object(Bucket=bucket, Key=key)
        return bytes(got["Body"].read()), dict(got["Metadata"])

    def stop(self) -> None:
        """Stop the server by its PID."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_s3_server() -> S3Server:
    """Start moto's server on 127.0.0.1:<free port> and create the S3 user."""
    port = free_port()
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS),
        # No real AWS account or network: keep boto3 inside the server from looking for one.
        "AWS_ACCESS_KEY_ID": "setup",
        "AWS_SECRET_ACCESS_KEY": "setup",
        "AWS_DEFAULT_REGION": REGION,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="jarvis")
        iam.put_user_policy(
            UserName="jarvis",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="jarvis")["AccessKey"]
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return S3Server(url, key["AccessKeyId"], key["SecretAccessKey"], proc)
