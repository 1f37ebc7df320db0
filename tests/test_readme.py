"""The README's examples do what it says."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from counter.counting import members
from counter.settings import Settings, SettingsError

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
    assert members.verify(token, "s" * 40, "portal", time.time()) == "user_42"
    assert members.verify(token, "x" * 40, "portal", time.time()) is None


def test_configuration_table_lists_every_environment_variable() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, re.M))
    source = (Path(__file__).parent.parent / "counter" / "settings.py").read_text()
    read = set(re.findall(r'"((?:COUNTER|REDIS)_[A-Z_]+)"', source))
    assert read
    assert read == documented
    assert isinstance(Settings.from_env({}), Settings)


def test_bad_settings_are_refused_with_the_variable_named() -> None:
    for env, name in (
        ({"COUNTER_LOG_LEVEL": "verbose"}, "COUNTER_LOG_LEVEL"),
        ({"COUNTER_ADMIN_TOKEN": "short"}, "COUNTER_ADMIN_TOKEN"),
        ({"COUNTER_PORT": "http"}, "COUNTER_PORT"),
        ({"COUNTER_BATCH": "maybe"}, "COUNTER_BATCH"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(env)
