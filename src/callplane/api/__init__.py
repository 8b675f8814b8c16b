"""HTTP API: the app factory, authentication and one sub-package per vendor dialect."""
