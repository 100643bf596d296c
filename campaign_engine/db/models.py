"""The tables: the database is the source of truth; Redis only moves work.

Every attempt to call someone is a row, claimed (committed) before its HTTP request is sent,
so a crash, a lost Redis or a duplicated job can be reconciled from here. The schema itself
comes only from the alembic migrations in ``migrations/``; these classes must match them
(a test compares the two).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from campaign_engine import clock
from campaign_engine.states import AttemptState, CampaignState, ContactState


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone; we always store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Now, from the one injectable clock (:mod:`campaign_engine.clock`)."""
    return clock.now()


def new_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    agent_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.DRAFT.value)
    state_reason: Mapped[str | None] = mapped_column(Text)
    default_region: Mapped[str | None] = mapped_column(String(2))
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    calls_per_minute: Mapped[int | None] = mapped_column(Integer)
    # The agent's max call duration, learned at start: bounds how long a slot may be held.
    max_call_seconds: Mapped[int] = mapped_column(Integer, default=600)
    # Variable names the agent declares (GET /agent), learned at start; null = not checked.
    agent_variables: Mapped[list[Any] | None] = mapped_column(JSON)
    retry_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Calling windows, days, blackout dates, start/end, preset (null: any time).
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Its weight when limits are shared with other campaigns (equal shares at 1 each).
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_campaigns_state", "state"),)


class CampaignEvent(Base):
    """Every campaign state change, with who or what caused it and why."""

    __tablename__ = "campaign_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_campaign_events_campaign", "campaign_id", "created_at"),)


_CALL_NOW = text("call_now_at IS NOT NULL")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone_e164: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(2))
    timezones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(12), default=ContactState.PENDING.value)
    # Attempts that count: sent, or possibly sent. "Not sent" ones are given back.
    attempts_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    # What kind of failure last_error is (a FailureKind), when the engine knows it.
    last_failure_kind: Mapped[str | None] = mapped_column(String(32))
    source_line: Mapped[int | None] = mapped_column(Integer)
    # When an operator asked to call it now: dispatched ahead of every backlog until its
    # next attempt is claimed (null: it waits its turn).
    call_now_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("campaign_id", "phone_e164", name="uq_contacts_campaign_phone"),
        # The "call now" lane: only marked contacts are in it, so it stays tiny.
        Index(
            "ix_contacts_call_now",
            "call_now_at",
            sqlite_where=_CALL_NOW,
            postgresql_where=_CALL_NOW,
        ),
        # The scheduler's query: due contacts of one campaign, in one index range scan.
        Index("ix_contacts_due", "campaign_id", "state", "next_attempt_at"),
        # No index on the number alone: every lookup by number is within a campaign
        # (the unique index above), and each index costs every imported row (migration 0003).
    )


# Attempts that never reached anyone do not hold their number: the retry reuses it.
_NUMBERED = text("state NOT IN ('not_sent', 'lost')")
# Open attempts (ATTEMPT_OPEN): a phone number is in at most one at a time, every campaign.
_OPEN = text("state IN ('dialing', 'processing', 'started', 'unknown')")


class CallAttempt(Base):
    __tablename__ = "call_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    attempt_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default=AttemptState.DIALING.value)
    provider: Mapped[str] = mapped_column(String(20))
    to_number: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    call_status: Mapped[str | None] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(32))
    answered_by: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    # What kind of failure ``error`` is (a FailureKind): readers compare this, never the text.
    failure_kind: Mapped[str | None] = mapped_column(String(32))
    # How the outcome was learned: "webhook", or "poll" (decided without the webhook, after
    # waiting for it until outcome_due_at).
    outcome_source: Mapped[str | None] = mapped_column(String(16))
    # While "processing": when to stop waiting for the webhook and ask GET /calls/{id}.
    outcome_due_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    credits_used: Mapped[float | None] = mapped_column(Float)
    recording_url: Mapped[str | None] = mapped_column(Text)
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transcript: Mapped[list[Any] | None] = mapped_column(JSON)
    # When the call must be over at the latest (agent max duration + margin from the claim).
    deadline_at: Mapped[datetime]
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Last time the reconciler asked Vocobase about this attempt.
    polled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(
            "uq_call_attempts_contact_number",
            "contact_id",
            "attempt_number",
            unique=True,
            sqlite_where=_NUMBERED,
            postgresql_where=_NUMBERED,
        ),
        Index("ix_call_attempts_contact", "contact_id"),
        Index("ix_call_attempts_open", "state", "deadline_at"),
        Index("ix_call_attempts_campaign", "campaign_id", "state"),
        # Caps per number per day across all campaigns.
        Index("ix_call_attempts_number_day", "to_number", "claimed_at"),
        # One call per number at a time, across campaigns: the claim checks it holding the
        # number; this index is the backstop nothing can race (migration 0006).
        Index(
            "uq_call_attempts_open_number",
            "to_number",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        UniqueConstraint("call_id", name="uq_call_attempts_call_id"),
        UniqueConstraint("session_id", name="uq_call_attempts_session_id"),
    )


class WebhookEvent(Base):
    """The inbox: every accepted webhook delivery, stored before it is answered."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(64))
    # received -> applied | unmatched | ignored; invalid bodies are kept with their reason.
    status: Mapped[str] = mapped_column(String(12), default="received")
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempt_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("call_attempts.id", ondelete="SET NULL")
    )
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("session_id", name="uq_webhook_events_session_id"),
        Index("ix_webhook_events_status", "status", "received_at"),
        Index("ix_webhook_events_call_id", "call_id"),
    )


class Suppression(Base):
    """A number, or a number prefix, that must never be called (globally or in a campaign)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # "number": an exact E.164 number; "prefix": every number starting with it (e.g. +1800).
    kind: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str] = mapped_column(String(20))
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64), default="operator")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_suppressions_pattern", "pattern"),
        Index("ix_suppressions_kind_campaign", "kind", "campaign_id"),
    )


class BlackoutDate(Base):
    """A day nobody is called (a holiday): for one campaign, or for all when campaign_id is null."""

    __tablename__ = "blackout_dates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_blackout_dates_day", "day"),)


class ContactSource(Base):
    """Where a campaign's contacts come from when they are pulled again (daily runs)."""

    __tablename__ = "contact_sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8), default="sql")
    # A SQLAlchemy URL; may hold a password, so it is never printed unmasked.
    source_url: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    # Import options: phone column, --map, --exclude, default region.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_run_at: Mapped[datetime | None]
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_contact_sources_campaign", "campaign_id"),)


class Notification(Base):
    """The outbox of results sent to the operator's own URL, retried until delivered."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    attempt_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("call_attempts.id", ondelete="SET NULL")
    )
    # "attempt": one attempt's outcome; "final": the contact's final result.
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending -> delivered | dead (after the last try; an operator can re-drive it)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notifications_due", "status", "next_try_at"),)


class AuditEntry(Base):
    """Every operator action (CLI or web): who, when, what, on which target."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        Index("ix_audit_log_created", "created_at"),
    )


class ApiToken(Base):
    """A named token for the API and the console: a scope, and only the SHA-256 of the token
    (see :mod:`campaign_engine.ops.tokens`)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    # read | operate | admin (campaign_engine.ops.tokens.Scope)
    scope: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("name", name="uq_api_tokens_name"),
        UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )


class IdempotencyKey(Base):
    """The stored answer to a POST sent with an ``Idempotency-Key``: a retry with the same
    key (and the same body) gets it again instead of creating anything twice."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The token's name: keys are per caller, so two callers never see each other's answers.
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path and body: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal_key"),
    )


class SchedulerLeader(Base):
    """Who leads the schedulers, and the fencing token of that leadership (one row per
    name). The token only grows: each new leader takes the next one, and every transaction a
    scheduler commits checks it still holds it (:mod:`campaign_engine.control.leadership`)."""

    __tablename__ = "scheduler_leader"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
    # host:pid of the process that took the token.
    holder: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime]
    renewed_at: Mapped[datetime]


class EngineSecret(Base):
    """A secret the engine made for itself on first use and shares through the database, so
    every process on every host holds the same one (the console's session-signing key)."""

    __tablename__ = "engine_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
