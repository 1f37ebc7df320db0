"""The Lua boundary: each ``<name>.lua`` script, and beside it in ``<name>.py`` its typed
contract (the arguments it takes, a parser of what it returns).

A script is loaded once per client by SHA and loaded again when Redis answers NOSCRIPT (a
restarted or promoted server has an empty script cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from redis.exceptions import NoScriptError

from counter.storage import RedisClient
from counter.wire import Wire, pack

ScriptArg = str | bytes | int | float


class Script:
    """A Lua script from ``counter/lua/<name>.lua``, run by SHA."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = resources.files("counter.lua").joinpath(f"{name}.lua").read_text()
        self.sha: str | None = None

    async def load(self, client: RedisClient) -> str:
        sha = await client.script_load(self.source)
        self.sha = sha if isinstance(sha, str) else sha.decode()
        return self.sha

    async def load_over(self, wire: Wire) -> str:
        """Load the script over a flusher's connection (see :mod:`counter.wire`)."""
        sha = await wire.call(pack(["SCRIPT", "LOAD", self.source]))
        self.sha = sha.decode() if isinstance(sha, bytes) else str(sha)
        return self.sha

    async def __call__(
        self, client: RedisClient, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> object:
        sha = self.sha or await self.load(client)
        try:
            return await client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            sha = await self.load(client)
            return await client.evalsha(sha, len(keys), *keys, *args)
