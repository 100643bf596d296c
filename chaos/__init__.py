"""The chaos soak: the engine's processes, several of each, on private PostgreSQL and Redis
and the simulator, killed, cut off and restarted at random while a campaign runs; then
proof from the simulator's ledger and the database that nothing was dialed twice, lost,
stuck or applied twice. ``python -m chaos`` (``make chaos``)."""
