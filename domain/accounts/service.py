"""Accounts use cases. Each takes a session first, raises DomainErrors, and never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from domain.accounts import repository as repo
from domain.accounts import session_repository as session_repo
from domain.accounts.errors import (
    AccountNotActivated,
    InactiveUser,
    InvalidCredentials,
    InvalidToken,
    RefreshTokenReused,
    TokenExpired,
    TokenRevoked,
    UserNotFound,
)
from domain.accounts.repository import AuthUser, Credentials
from domain.errors import ServiceUnavailable
from domain.models import UserGroup
from domain.security import PasswordHasher, TokenClaims, TokenService


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class Registration:
    user_id: int
    created: bool  # False: the email already had an account
    # The account exists, is not activated, and the same password was given again: the same
    # person retrying (e.g. after a 503), who gets a fresh activation link, not a notice.
    resumes: bool = False


async def register(
    session: AsyncSession, hasher: PasswordHasher, email: str, password: str
) -> Registration:
    """Create an inactive USER, or report the existing account. Both paths hash the password."""
    hashed = await hasher.hash(password)
    user_id = await repo.insert_user_if_absent(session, email, hashed)
    if user_id is not None:
        return Registration(user_id=user_id, created=True)
    existing = await repo.get_user_by_email(session, email)
    if existing is None:  # deleted between the two statements: let the client retry
        raise ServiceUnavailable("Registration could not be completed; try again.")
    resumes = False
    if not existing.is_active:
        # Only the holder of the first password resumes; anyone else only makes the owner get
        # a notice, so a second registrant can never take over a pending account.
        resumes, _ = await hasher.verify(password, existing.hashed_password)
    return Registration(user_id=existing.id, created=False, resumes=resumes)


async def authenticate(
    db: AsyncEngine, hasher: PasswordHasher, email: str, password: str
) -> Credentials:
    """Check email and password. `db` is an autocommit engine: each statement is its own
    short connection, so no pooled connection is held while the password hash is computed."""
    verified = await verify_password(db, hasher, email, password)
    if verified is None:
        raise InvalidCredentials()
    user, new_hash = verified
    if not user.is_active:
        raise AccountNotActivated()
    if new_hash is not None:  # argon2 parameters changed since this hash was made
        async with db.connect() as conn:
            await repo.set_password_hash(conn, user.id, new_hash)
    return user


async def verify_password(
    db: AsyncEngine, hasher: PasswordHasher, email: str, password: str
) -> tuple[Credentials, str | None] | None:
    """The account with this email and, if its hash was made with older argon2 parameters, a
    new hash of `password`; None when the email is unknown or the password wrong (an unknown
    email costs a hash too, so timing tells the two apart no more than the answer does).

    The one password check: login and change-password both use it. `db` is an autocommit
    engine; no connection is held while the hash is computed."""
    async with db.connect() as conn:
        user = await repo.get_credentials(conn, email)
    ok, new_hash = await hasher.verify(password, user.hashed_password if user else None)
    if user is None or not ok:
        return None
    return user, new_hash


def _mint_pair(tokens: TokenService, user_id: int, family_id: str) -> tuple[TokenPair, str]:
    access = tokens.issue(user_id, "access", family_id)
    refresh = tokens.issue(user_id, "refresh", family_id)
    pair = TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        access_expires_at=access.claims.expires_at,
        refresh_expires_at=refresh.claims.expires_at,
    )
    return pair, refresh.claims.jti


async def _store_refresh(
    db: AsyncConnection | AsyncSession, user_id: int, family_id: str, jti: str, pair: TokenPair
) -> None:
    await session_repo.insert_refresh_token(
        db,
        jti=jti,
        family_id=family_id,
        user_id=user_id,
        issued_at=utcnow(),
        expires_at=pair.refresh_expires_at,
    )


async def login(db: AsyncEngine, tokens: TokenService, user: Credentials) -> TokenPair:
    """A new login starts a new refresh family: several devices may be logged in at once.
    One INSERT, on an autocommit engine."""
    family_id = str(uuid.uuid4())
    pair, jti = _mint_pair(tokens, user.id, family_id)
    async with db.connect() as conn:
        await _store_refresh(conn, user.id, family_id, jti, pair)
    return pair


def check_user_may_use(user: AuthUser | None, claims: TokenClaims) -> AuthUser:
    """The token's user exists, is active, and the token is newer than its revocation mark."""
    if user is None or not user.is_active:
        raise InactiveUser()
    # Tokens carry whole seconds; compare at that precision.
    if claims.issued_at < user.tokens_valid_after.replace(microsecond=0):
        raise TokenRevoked()
    return user


async def refresh(session: AsyncSession, tokens: TokenService, refresh_token: str) -> TokenPair:
    """Rotate: the presented refresh token is spent; a second use revokes its whole family."""
    claims = tokens.decode(refresh_token, "refresh")
    check_user_may_use(await repo.get_auth_user(session, claims.user_id), claims)
    new_pair, new_jti = _mint_pair(tokens, claims.user_id, claims.family_id)
    if await session_repo.rotate_refresh_token(session, claims.jti, claims.user_id, new_jti):
        await _store_refresh(session, claims.user_id, claims.family_id, new_jti, new_pair)
        return new_pair
    row = await session_repo.get_refresh_token(session, claims.jti)
    if row is None or row.user_id != claims.user_id:
        raise InvalidToken()
    if row.revoked_at is not None:
        # Reuse of a spent token: someone holds a copy. End every session of this login.
        await session_repo.revoke_refresh_family(session, claims.family_id, claims.user_id)
        raise RefreshTokenReused()
    raise TokenExpired()


async def logout(session: AsyncSession, claims: TokenClaims) -> None:
    """Revoke the caller's own login family (refresh tokens); the access jti is denied in Redis."""
    await session_repo.revoke_refresh_family(session, claims.family_id, claims.user_id)


async def create_admin(
    session: AsyncSession, hasher: PasswordHasher, email: str, password: str
) -> tuple[int, bool]:
    """Create an activated ADMIN, or promote the existing account. Returns (id, created)."""
    hashed = await hasher.hash(password)
    user_id = await repo.insert_user_if_absent(
        session, email, hashed, group=UserGroup.ADMIN, is_active=True
    )
    if user_id is not None:
        return user_id, True
    user = await repo.get_user_by_email(session, email)
    assert user is not None
    await repo.promote_to_active_admin(session, user.id, hashed)
    return user.id, False


async def set_group(session: AsyncSession, email: str, group: UserGroup) -> int:
    user_id = await repo.set_group(session, email, group)
    if user_id is None:
        raise UserNotFound(f"No account has the email {email}.")
    return user_id


def utcnow() -> datetime:
    return datetime.now(UTC)
