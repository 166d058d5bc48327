"""Signed commands: Ed25519 JWTs (PyJWT) minted on approval and checked by the executor. Pure.

The executor pins the algorithm (EdDSA), the issuer, its own audience, the `typ` header and the
current key id; the lifetime may be at most 60 s; a `jti` is accepted once (the replay cache is
persisted by the caller so it survives restarts). Rotating the key makes every older token fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
import jwt

ALGORITHM = "EdDSA"
ISSUER = "jarvis-safety-gate"
TOKEN_TYPE = "safety-cmd+jwt"  # noqa: S105 - a JWT typ, not a secret
MAX_LIFETIME_S = 60
DEFAULT_LIFETIME_S = 30
LEEWAY_S = 5
REQUIRED = ["exp", "iat", "nbf", "jti", "aud", "iss", "sub"]


def audience(domain: str) -> str:
    """One audience per executor kind (door executor, HA service executor, device executor)."""
    return f"safety-executor:{domain}"


class TokenError(Exception):
    """A token the executor refuses; `code` is a translation key."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the machine-readable code."""
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class SigningKey:
    """The current Ed25519 key and its id."""

    kid: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key with a random id."""
        return cls(kid=secrets.token_hex(8), private=Ed25519PrivateKey.generate())

    @property
    def public(self) -> Ed25519PublicKey:
        """What the executor verifies with."""
        return self.private.public_key()

    def to_dict(self) -> dict[str, str]:
        """For HA storage (PEM, unencrypted: HA's .storage is the secret store here)."""
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {"kid": self.kid, "private_pem": pem.decode()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SigningKey:
        """Inverse of to_dict."""
        key = serialization.load_pem_private_key(str(data["private_pem"]).encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TokenError("bad_key", "the stored signing key is not an Ed25519 key")
        return cls(kid=str(data["kid"]), private=key)


def mint(
    key: SigningKey,
    *,
    domain: str,
    claims: Mapping[str, Any],
    subject: str,
    now: datetime,
    lifetime_s: int = DEFAULT_LIFETIME_S,
) -> tuple[str, str]:
    """A signed command token and its jti."""
    if not 0 < lifetime_s <= MAX_LIFETIME_S:
        raise TokenError("bad_lifetime", f"a command token lives 1-{MAX_LIFETIME_S} s")
    issued = int(now.timestamp())
    jti = secrets.token_hex(16)
    payload = {
        **claims,
        "iss": ISSUER,
        "aud": audience(domain),
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_s,
        "jti": jti,
    }
    token = jwt.encode(
        payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )
    return token, jti


@dataclass(slots=True)
class ReplayCache:
    """jti -> exp of every token already used (kept until it would have expired anyway)."""

    seen: dict[str, int] = field(default_factory=dict)

    def prune(self, now: float) -> None:
        """Forget tokens that are dead anyway."""
        for jti in [j for j, exp in self.seen.items() if exp + LEEWAY_S < now]:
            del self.seen[jti]


def verify(
    token: str,
    key: SigningKey,
    *,
    domain: str,
    replay: ReplayCache,
    now: datetime,
) -> dict[str, Any]:
    """The token's claims, if every check passes; TokenError naming the first that fails.

    On success the jti is added to the replay cache (the caller persists it before acting).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as err:
        raise TokenError("token_malformed", f"not a token: {err}") from err
    if header.get("alg") != ALGORITHM:
        raise TokenError(
            "token_bad_alg", f"algorithm {header.get('alg')!r} is not accepted (only {ALGORITHM})"
        )
    if header.get("typ") != TOKEN_TYPE:
        raise TokenError("token_bad_type", f"token type {header.get('typ')!r} is not {TOKEN_TYPE}")
    if header.get("kid") != key.kid:
        raise TokenError(
            "token_unknown_key", f"key id {header.get('kid')!r} is not the current signing key"
        )
    try:
        decoded = jwt.decode_complete(
            token,
            key.public,
            algorithms=[ALGORITHM],
            audience=audience(domain),
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": REQUIRED, "strict_aud": True},
        )
    except jwt.InvalidSignatureError as err:
        raise TokenError("token_bad_signature", "the signature does not verify") from err
    except jwt.ExpiredSignatureError as err:
        raise TokenError("token_expired", "the token has expired") from err
    except jwt.InvalidAudienceError as err:
        raise TokenError("token_bad_audience", f"the token is not for {audience(domain)}") from err
    except jwt.InvalidIssuerError as err:
        raise TokenError("token_bad_issuer", "the token was not issued by the safety gate") from err
    except jwt.InvalidTokenError as err:
        raise TokenError("token_invalid", f"the token is invalid: {err}") from err
    claims: dict[str, Any] = decoded["payload"]
    if int(claims["exp"]) - int(claims["iat"]) > MAX_LIFETIME_S:
        raise TokenError("token_too_long", f"the token lives longer than {MAX_LIFETIME_S} s")
    stamp = now.timestamp()
    replay.prune(stamp)
    jti = str(claims["jti"])
    if jti in replay.seen:
        raise TokenError("token_replayed", "this token was already used")
    replay.seen[jti] = int(claims["exp"])
    return claims
