"""Telephony set-up as the simulator checks it on ``POST /calls/start``.

The docs: a start's ``provider`` must be allowed and set up — with credentials
(``PUT /config/telephony/{provider}``, shown as ``configured`` in ``GET /config``) or through
a telephony connection (``POST/GET /telephony/connections``; SIP only this way). A partner
using only connections may show no ``configured`` entry. ``connection_id`` is needed when
the provider has several active connections. The refusals' codes are undocumented; the
simulator answers:

- ``connection_id`` naming no connection: 404 ``NOT_FOUND`` "telephony connection ... not
  found"; naming one of another provider, or an inactive one: 400 ``VALIDATION_ERROR``.
- no ``connection_id`` while the provider has several active connections: 400
  ``VALIDATION_ERROR`` "connection_id is required ..." (``is_default`` does not pick one).
- a provider neither configured nor with an active connection: 400 ``VALIDATION_ERROR``
  "provider not configured ...".

The caller ID of a call is the first phone number of the connection it goes through, else
the configured ``from_number``.

``GET /telephony/connections`` (a general endpoint) answers, in the docs' field names::

    {"connections": [{"connection_id": "<uuid>", "provider": "sip", "status": "active",
                      "is_default": true, "phone_numbers": ["+14155550199"]}]}

``status`` is ``active`` or ``inactive``; ``phone_numbers`` are E.164 strings.
"""

from __future__ import annotations

from campaign_engine.simulator.envelope import ApiError
from campaign_engine.simulator.knobs import SimConnection, SimulatorConfig


def connection_for(
    config: SimulatorConfig, provider: str, connection_id: str | None
) -> SimConnection | None:
    """The connection a start goes through, or None when it uses configured credentials;
    raises the refusal when the provider is not set up for it."""
    if connection_id is not None:
        connection = config.connection(connection_id)
        if connection is None:
            raise ApiError(404, "NOT_FOUND", f"telephony connection {connection_id} not found")
        if connection.provider != provider.lower():
            message = (
                f"connection_id {connection_id} is a {connection.provider} connection, "
                f"not {provider}"
            )
            raise ApiError(400, "VALIDATION_ERROR", message)
        if not connection.active:
            message = f"connection_id {connection_id} is inactive"
            raise ApiError(400, "VALIDATION_ERROR", message)
        return connection
    active = config.active_connections(provider)
    if len(active) > 1:
        message = (
            f"connection_id is required: there are {len(active)} active {provider} "
            "telephony connections"
        )
        raise ApiError(400, "VALIDATION_ERROR", message)
    if config.provider_configured(provider):
        return None
    if not active:
        message = (
            f"provider not configured: set up {provider} credentials or a telephony "
            "connection first"
        )
        raise ApiError(400, "VALIDATION_ERROR", message)
    return active[0]
