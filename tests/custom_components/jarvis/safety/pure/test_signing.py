"""Signed commands: what the executor accepts, and every token it must refuse."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
import json

import jwt
import pytest

from custom_components.jarvis.safety.signing import (
    ISSUER,
    MAX_LIFETIME_S,
    TOKEN_TYPE,
    ReplayCache,
    SigningKey,
    TokenError,
    audience,
    mint,
    verify,
)


def _now() -> datetime:
    """PyJWT checks exp/nbf/iat against the real clock, so tokens are minted at the real now."""
    return datetime.now(UTC)


CLAIMS = {"action": "jarvis_door.unlock", "target": ["door-1"], "rid": "r1"}


def _mint(key: SigningKey, **kwargs: object) -> str:
    token, _ = mint(key, domain="jarvis_door", claims=CLAIMS, subject="alice", now=_now(), **kwargs)  # type: ignore[arg-type]
    return token


def _check(
    token: str,
    key: SigningKey,
    replay: ReplayCache | None = None,
    now: datetime | None = None,
    domain: str = "jarvis_door",
) -> dict[str, object]:
    return verify(token, key, domain=domain, replay=replay or ReplayCache(), now=now or _now())


def _code(token: str, key: SigningKey, **kwargs: object) -> str:
    with pytest.raises(TokenError) as err:
        _check(token, key, **kwargs)  # type: ignore[arg-type]
    return err.value.code


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_fresh_token_verifies_once() -> None:
    key = SigningKey.generate()
    token = _mint(key)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": TOKEN_TYPE, "kid": key.kid}
    replay = ReplayCache()
    claims = _check(token, key, replay)
    assert claims["iss"] == ISSUER and claims["aud"] == audience("jarvis_door")
    assert claims["exp"] - claims["iat"] == 30  # type: ignore[operator]
    assert _code(token, key, replay=replay) == "token_replayed"


def test_refusals() -> None:
    key = SigningKey.generate()
    token = _mint(key)
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    # Tampered: a different door under the same signature.
    payload["target"] = ["door-2"]
    assert _code(f"{head}.{_b64(payload)}.{sig}", key) == "token_bad_signature"
    # alg none, with and without a signature.
    none_head = _b64({"alg": "none", "typ": TOKEN_TYPE, "kid": key.kid})
    assert _code(f"{none_head}.{body}.", key) == "token_bad_alg"
    unsigned = jwt.encode(
        payload, None, algorithm="none", headers={"typ": TOKEN_TYPE, "kid": key.kid}
    )
    assert _code(unsigned, key) == "token_bad_alg"
    # HS256 with the public key's bytes as the secret (algorithm confusion).
    hs = jwt.encode(
        payload, "x" * 64, algorithm="HS256", headers={"typ": TOKEN_TYPE, "kid": key.kid}
    )
    assert _code(hs, key) == "token_bad_alg"
    # Wrong key with the right kid; a rotated key (new kid).
    impostor = SigningKey(kid=key.kid, private=SigningKey.generate().private)
    assert _code(_mint(impostor), key) == "token_bad_signature"
    assert _code(token, SigningKey.generate()) == "token_unknown_key"
    # Expired, not for this executor, wrong type, garbage.
    stale, _ = mint(
        key, domain="jarvis_door", claims=CLAIMS, subject="a", now=_now() - timedelta(minutes=2)
    )
    assert _code(stale, key) == "token_expired"
    assert _code(token, key, domain="lock") == "token_bad_audience"
    wrong_typ = jwt.encode(
        payload, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": "JWT"}
    )
    assert _code(wrong_typ, key) == "token_bad_type"
    assert _code("not-a-token", key) == "token_malformed"


def test_issuer_lifetime_and_required_claims() -> None:
    key = SigningKey.generate()
    issued = int(_now().timestamp())
    base = {
        "sub": "a",
        "aud": audience("lock"),
        "iat": issued,
        "nbf": issued,
        "exp": issued + 30,
        "jti": "j",
    }
    headers = {"kid": key.kid, "typ": TOKEN_TYPE}

    def signed(**changes: object) -> str:
        return jwt.encode(
            {**base, "iss": ISSUER, **changes}, key.private, algorithm="EdDSA", headers=headers
        )

    assert _code(signed(iss="someone"), key, domain="lock") == "token_bad_issuer"
    assert _code(signed(exp=issued + MAX_LIFETIME_S + 1), key, domain="lock") == "token_too_long"
    no_jti = {k: v for k, v in base.items() if k != "jti"}
    token = jwt.encode({**no_jti, "iss": ISSUER}, key.private, algorithm="EdDSA", headers=headers)
    assert _code(token, key, domain="lock") == "token_invalid"
    with pytest.raises(TokenError, match="1-60"):
        _mint(key, lifetime_s=61)


def test_key_storage_and_replay_pruning() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_dict(key.to_dict())
    assert again.kid == key.kid
    _check(_mint(again), key)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(TokenError) as err:
        SigningKey.from_dict({"kid": "k", "private_pem": pem.decode()})
    assert err.value.code == "bad_key"
    replay = ReplayCache({"old": 100, "new": 10**12})
    replay.prune(1000.0)
    assert list(replay.seen) == ["new"]
