"""Named tokens with scopes, for the API and the console: who may do what, and under which
name their changes are audited.

A token is ``ce_`` followed by 32 random bytes (URL-safe base64), shown once when it is
created; only its SHA-256 is stored. A slow password hash (bcrypt, scrypt, argon2) exists to
make guessing *low-entropy* secrets expensive; a 256-bit random token cannot be guessed
whatever the hash costs, so one fast SHA-256 is as safe and lets every request be checked by
one indexed lookup instead of a deliberately slow computation per request. No salt is needed
for the same reason (no two tokens share a value, and no table of precomputed hashes can
cover 2^256 of them); the digest is keyed with a fixed domain string so a hash of this table
is useless anywhere else.

The old single ``[ops] token`` from the config keeps working as an admin token named
``config``, so nobody is locked out on upgrade.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import ApiToken, utcnow
from campaign_engine.journal import audit

TOKEN_PREFIX = "ce_"
CONFIG_TOKEN_NAME = "config"
NAME_LIMIT = 64
# Names go in URLs (/api/v1/tokens/{name}/revoke) and the audit log: kept plain.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"
_HASH_KEY = b"campaign-engine api token v1"
# last_used_at is a hint for the operator, not a log: written at most this often per token.
_LAST_USED_STEP = timedelta(minutes=1)


class Scope(StrEnum):
    """What a token may do; each scope includes the ones below it (admin ⊃ operate ⊃ read)."""

    READ = "read"
    OPERATE = "operate"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Scope.READ: 0, Scope.OPERATE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the token's name (the audit log's actor) and its scope."""

    name: str
    scope: Scope

    def allows(self, needed: Scope) -> bool:
        return self.scope.rank >= needed.rank


class TokenView(BaseModel):
    """A token as listed: never the token itself, nor its hash."""

    name: str
    scope: Scope
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenError(ValueError):
    """A token that cannot be created or revoked as asked (the message says why)."""


def hash_token(raw: str) -> str:
    return hmac.new(_HASH_KEY, raw.encode(), hashlib.sha256).hexdigest()


def _check_name(name: str) -> str:
    name = name.strip()
    if not re.fullmatch(NAME_PATTERN, name):
        raise TokenError(
            f"token name must be 1 to {NAME_LIMIT} letters, digits, '.', '_', '@' or '-' "
            f"(starting with a letter or digit), got {name!r}"
        )
    if name == CONFIG_TOKEN_NAME:
        raise TokenError(f"the name {CONFIG_TOKEN_NAME!r} is reserved for the [ops] token")
    return name


async def create_token(session: AsyncSession, *, name: str, scope: Scope | str, actor: str) -> str:
    """A new token named ``name``; returns the raw token, which is never stored or shown again."""
    name = _check_name(name)
    try:
        scope = Scope(scope)
    except ValueError:
        raise TokenError(f"scope must be read, operate or admin, got {scope!r}") from None
    existing = await session.scalar(select(ApiToken.id).where(ApiToken.name == name))
    if existing is not None:
        raise TokenError(f"a token named {name!r} already exists (names are never reused)")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(name=name, scope=scope.value, token_hash=hash_token(raw), created_by=actor[:64])
    )
    try:
        await session.flush()
    except IntegrityError:
        raise TokenError(f"a token named {name!r} already exists") from None
    await audit.record(
        session,
        actor=actor,
        action="token.create",
        target_type="token",
        target_id=name,
        details={"scope": scope.value},
    )
    return raw


async def verify_token(
    session: AsyncSession, raw: str, *, config_token: str | None
) -> Principal | None:
    """Who ``raw`` belongs to, or None for an unknown or revoked token.

    Lookup is by the token's hash (a digest leaks nothing about the token that is timed), and
    the stored hash is compared again in constant time; the config token likewise.
    """
    if not raw:
        return None
    if config_token and hmac.compare_digest(raw.encode(), config_token.encode()):
        return Principal(CONFIG_TOKEN_NAME, Scope.ADMIN)
    digest = hash_token(raw)
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_STEP:
        row.last_used_at = now
        await session.flush()
    return Principal(row.name, Scope(row.scope))


async def list_tokens(session: AsyncSession) -> list[TokenView]:
    """Every token, revoked ones too (their names stay taken), oldest first."""
    rows = (await session.scalars(select(ApiToken).order_by(ApiToken.id))).all()
    return [
        TokenView(
            name=row.name,
            scope=Scope(row.scope),
            created_at=row.created_at,
            created_by=row.created_by,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )
        for row in rows
    ]


async def revoke_token(session: AsyncSession, name: str, *, actor: str) -> TokenView:
    """Revoke the token named ``name`` at once (its next request is refused)."""
    row = await session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise LookupError(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await audit.record(
            session, actor=actor, action="token.revoke", target_type="token", target_id=name
        )
    await session.flush()
    return TokenView(
        name=row.name,
        scope=Scope(row.scope),
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
