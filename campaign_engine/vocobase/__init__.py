"""Everything about talking to Vocobase: the HTTP client, its models, its errors, signing."""
