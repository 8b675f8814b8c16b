"""Use cases the APIs, the dashboard and the CLI call: calls, campaigns, admin, webhooks."""
