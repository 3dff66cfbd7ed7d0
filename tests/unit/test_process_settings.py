"""The settings of a process among many: its node id and the worker's own HTTP listener."""

from __future__ import annotations

import os
import socket

import pytest

from app.core.settings import NODE_ID_PATTERN, Settings, SettingsError, default_node_id

SECRET = {"LADDNAT_SECRET_KEY": "x" * 32}


def test_the_node_id_defaults_to_host_and_pid_and_the_worker_listens_on_8100() -> None:
    s = Settings.from_env(SECRET)
    assert s.bus.node == default_node_id() and s.bus.node.endswith(f"-{os.getpid()}")
    assert NODE_ID_PATTERN.fullmatch(s.bus.node)
    assert (s.worker.http_host, s.worker.http_port) == ("127.0.0.1", 8100)


def test_a_host_name_with_dots_still_makes_a_valid_node_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "web-3.eu-north.internal")
    assert default_node_id() == f"web-3-eu-north-internal-{os.getpid()}"


def test_node_id_and_worker_listener_from_the_environment() -> None:
    s = Settings.from_env(
        {
            **SECRET,
            "LADDNAT_NODE_ID": "worker-a_2",
            "LADDNAT_WORKER_HTTP_HOST": "0.0.0.0",
            "LADDNAT_WORKER_HTTP_PORT": "9101",
        }
    )
    assert (s.bus.node, s.worker.http_host, s.worker.http_port) == ("worker-a_2", "0.0.0.0", 9101)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LADDNAT_NODE_ID", "has space"),
        ("LADDNAT_NODE_ID", "dotted.name"),
        ("LADDNAT_NODE_ID", "n" * 65),
        ("LADDNAT_WORKER_HTTP_PORT", "http"),
        ("LADDNAT_WORKER_HTTP_PORT", "70000"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**SECRET, name: value})
    assert str(err.value).startswith(f"{name}=") and "\n" not in str(err.value)
