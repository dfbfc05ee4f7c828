"""Settings from the environment: defaults and one-line errors (no Docker)."""

from __future__ import annotations

import pytest

from harness.config import Settings
from harness.errors import InvalidSetting


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.base_image == "ubuntu:24.04"
    assert settings.probe_interval <= 0.1
    assert len(settings.run_id) == 12


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HARNESS_PROBE_INTERVAL": "fast"}, "HARNESS_PROBE_INTERVAL='fast' is not a number"),
        ({"HARNESS_PROBE_INTERVAL": "0"}, "HARNESS_PROBE_INTERVAL=0 is out of range"),
        ({"HARNESS_RUN_ID": "Has Spaces"}, "HARNESS_RUN_ID='Has Spaces' is not usable as a label"),
        ({"HARNESS_DOCKER_DIR": "/nonexistent"}, "HARNESS_DOCKER_DIR='/nonexistent' has no Dockerfile"),
    ],
)
def test_bad_settings_get_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
