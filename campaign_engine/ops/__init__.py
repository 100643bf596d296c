"""The operator's console: read-only views, audited actions, metrics and the web pages.

Operators think in calls and contacts ("redial Asha"), not jobs: everything here is a plain
query or update over the database (and a few Redis keys), shared by the CLI and the web.
"""
