"""Counting: hits, presence, periods, and the group-commit write path."""
