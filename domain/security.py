"""Passwords (argon2id via passlib), JWTs, and one-time tokens."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import jwt
from passlib.context import CryptContext

from domain.accounts.errors import InvalidToken, TokenExpired
from domain.config import Settings
from domain.db import MAX_ID

JWT_ALGORITHM = "HS256"  # pinned: the server never takes the algorithm from the token
TokenType = Literal["access", "refresh"]
T = TypeVar("T")


class PasswordHasher:
    """argon2id through passlib. Hashing runs in a worker thread: the event loop never blocks."""

    def __init__(self, settings: Settings) -> None:
        threads = settings.password_hash_threads or os.cpu_count() or 1
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__time_cost=settings.argon2_time_cost,
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__parallelism=settings.argon2_parallelism,
        )
        # Verified against when the email is unknown, so a miss costs what a hit costs.
        self._dummy_hash = self._context.hash(uuid.uuid4().hex)

    async def _run(self, func: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._context.hash, password)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """Return (matches, new_hash_if_parameters_changed)."""
        if hashed is None:
            await self._run(self._context.verify, password, self._dummy_hash)
            return False, None
        return await self._run(self._context.verify_and_update, password, hashed)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    token_type: TokenType
    jti: str
    family_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


class TokenService:
    """Signs and checks JWTs: algorithm pinned, `typ`, `jti`, `iss`/`aud`, `exp`, `iat` required."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret.get_secret_value()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl: dict[TokenType, timedelta] = {
            "access": timedelta(seconds=settings.access_token_ttl_seconds),
            "refresh": timedelta(seconds=settings.refresh_token_ttl_seconds),
        }

    def issue(
        self, user_id: int, token_type: TokenType, family_id: str, now: datetime | None = None
    ) -> IssuedToken:
        issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
        claims = TokenClaims(
            user_id=user_id,
            token_type=token_type,
            jti=str(uuid.uuid4()),
            family_id=family_id,
            issued_at=issued_at,
            expires_at=issued_at + self._ttl[token_type],
        )
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "typ": token_type,
            "jti": claims.jti,
            "sid": family_id,
            "iat": int(issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
        }
        token = jwt.encode(payload, self._secret, algorithm=JWT_ALGORITHM, headers={"typ": "JWT"})
        return IssuedToken(token=token, claims=claims)

    def decode(self, token: str, expected_type: TokenType) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "jti", "sub", "typ", "iss", "aud", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        if payload.get("typ") != expected_type:
            raise InvalidToken(f"Expected a {expected_type} token.")
        sub = payload["sub"]
        # A signed subject is still input: only a positive 64-bit id reaches the database.
        if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
            raise InvalidToken()
        user_id = int(sub)
        if not 0 < user_id <= MAX_ID:
            raise InvalidToken()
        try:
            return TokenClaims(
                user_id=user_id,
                token_type=expected_type,
                jti=str(payload["jti"]),
                family_id=str(payload["sid"]),
                issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidToken() from exc


class OneTimeTokens:
    """Activation and password-reset tokens.

    The raw token is HMAC-SHA256(key, purpose:user_id:nonce), 256 bits that nobody can compute
    without the server secret. Workflows hold only the random nonce, so a token can be re-derived
    for every retry of its email (the same link each time) while no raw token ever appears in a
    workflow history; the database stores only SHA-256(token).
    """

    def __init__(self, settings: Settings) -> None:
        master = settings.jwt_secret.get_secret_value().encode()
        self._key = hmac.new(master, b"online-cinema/one-time-tokens/v1", hashlib.sha256).digest()

    def derive(self, purpose: str, user_id: int, nonce: str) -> str:
        message = f"{purpose}:{user_id}:{nonce}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
