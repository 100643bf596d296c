"""``/limits``: every limit the engine keeps and how much of it is in use now."""

from __future__ import annotations

from campaign_engine.api.registry import Call, Operation
from campaign_engine.ops.limits_view import LimitsView, limits_view
from campaign_engine.ops.tokens import Scope


async def get_limits(call: Call) -> LimitsView:
    runtime = call.runtime
    return await limits_view(call.db, runtime.redis, runtime.keys, runtime.settings.limits)


OPERATIONS = [
    Operation("GET", "/limits", get_limits, Scope.READ, "Limits and their use now", "limits",
              response=LimitsView),
]  # fmt: skip
