"""Results pushed to the operator's own URL through a persistent outbox.

``emit`` writes outbox rows in the same transaction as the outcome they describe (so a
committed outcome always has its notification); ``payload`` shapes them; ``outbox`` claims,
finishes, lists and re-drives rows; ``backoff`` says when to try again; ``delivery`` signs
and sends them from a loop beside the scheduler.
"""
