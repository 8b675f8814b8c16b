"""Vendor dialects: each one only translates requests into commands/queries and calls into JSON."""
