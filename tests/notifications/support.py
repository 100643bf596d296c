"""Helpers for the notification tests: outcomes recorded through the real receiver."""

from __future__ import annotations

from sqlalchemy import select

from campaign_engine.db.models import Notification
from campaign_engine.runtime import Runtime
from tests.webhooks.conftest import client_for, deliver, event_body


async def notifications(runtime: Runtime) -> list[Notification]:
    async with runtime.sessions() as session:
        found = await session.scalars(select(Notification).order_by(Notification.id))
        return list(found.all())


async def webhook(runtime: Runtime, **body: object) -> None:
    """Deliver one signed session.completed event and let it be applied."""
    async with client_for(runtime) as client:
        response = await deliver(client, event_body(**body))  # type: ignore[arg-type]
    assert response.status_code == 200, response.text


async def add_notifications(
    runtime: Runtime, contact_id: int, campaign_id: str, count: int, **fields: object
) -> list[int]:
    """``count`` pending notifications of one contact, written directly; their ids."""
    from campaign_engine.db.models import utcnow

    now = utcnow()
    rows = []
    for index in range(count):
        values: dict[str, object] = {
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "attempt_id": None,
            "kind": "attempt" if index % 2 == 0 else "final",
            "payload": {"n": index},
            "status": "pending",
            "tries": 0,
            "next_try_at": now,
            "created_at": now,
        }
        values.update(fields)
        rows.append(Notification(**values))
    async with runtime.sessions() as session, session.begin():
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]
