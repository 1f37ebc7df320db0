"""The README's examples do what it says."""

from __future__ import annotations

import re
from pathlib import Path

from counter.counting import members
from counter.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_python_member_token_snippet_mints_valid_tokens() -> None:
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "def member_token" in b
    )
    namespace: dict[str, object] = {}
    exec(block, namespace)  # the documented code, run as a portal would run it
    mint = namespace["member_token"]
    assert callable(mint)
    token = mint("s" * 40, "portal", "user_42")
    assert members.verify(token, "s" * 40, "portal", 0) == "user_42"
    assert members.verify(token, "x" * 40, "portal", 0) is None


def test_configuration_table_lists_every_environment_variable() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, re.M))
    source = (Path(__file__).parent.parent / "counter" / "settings.py").read_text()
    read = set(re.findall(r'"((?:COUNTER|REDIS)_[A-Z_]+)"', source))
    assert read
    assert read == documented
    assert isinstance(Settings.from_env({}), Settings)
