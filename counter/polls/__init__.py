"""Polls: the poll model, atomic votes in Lua, results visibility and live updates (SSE)."""
