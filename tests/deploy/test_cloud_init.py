"""The cloud-init examples are valid YAML whose embedded files are valid sensorcast config and token files."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import load_config

CLOUD = Path(__file__).resolve().parents[2] / "deploy" / "cloud-init"
USER_DATA = sorted(CLOUD.glob("user-data*.yaml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", USER_DATA, ids=lambda p: p.name)
def test_user_data_installs_sensorcast_with_its_files(path: Path, tmp_path: Path) -> None:
    """#cloud-config header; tokens (and config, when given) land in /etc/sensorcast and load; runcmd clones the
    project and runs deploy/install.sh with options it accepts."""
    assert path.read_text().startswith("#cloud-config\n")
    data = load(path)
    files = {f["path"]: f for f in data["write_files"]}
    assert set(files) <= {"/etc/sensorcast/tokens.toml", "/etc/sensorcast/sensorcast.toml"}
    assert all(f["permissions"] == "0640" for f in files.values())
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(files["/etc/sensorcast/tokens.toml"]["content"])
    cfg_text = files.get("/etc/sensorcast/sensorcast.toml", {"content": '[security]\ntoken_file = "x"\n'})[
        "content"
    ]
    cfg_path = tmp_path / "sensorcast.toml"
    cfg_path.write_text(
        cfg_text.replace("/etc/sensorcast/tokens.toml", str(tokens)).replace('"x"', f'"{tokens}"')
    )
    cfg = load_config(cfg_path)
    assert [(t.name, t.role) for t in cfg.security.tokens] == [("operator", "operator"), ("viewer", "viewer")]
    commands = [c if isinstance(c, list) else shlex.split(c) for c in data["runcmd"]]
    flat = [" ".join(c) for c in commands]
    clone = next(i for i, c in enumerate(flat) if c.startswith("git clone"))
    install = next(i for i, c in enumerate(flat) if "/opt/sensorcast-src/deploy/install.sh" in c)
    assert clone < install
    usage = (CLOUD.parent / "install.sh").read_text()
    for option in (w for w in shlex.split(flat[install].replace('"', " ")) if w.startswith("--")):
        assert f"\n    {option})" in usage, f"install.sh has no {option} option"
    assert "git" in data["packages"]


def test_network_config_is_netplan_v2_with_wifi() -> None:
    """network-config declares version 2, DHCP on eth0 and a Wi-Fi with a regulatory domain."""
    net = load(CLOUD / "network-config.yaml")["network"]
    assert net["version"] == 2
    assert net["ethernets"]["eth0"]["dhcp4"] is True
    wlan = net["wifis"]["wlan0"]
    assert (wlan["dhcp4"], len(wlan["regulatory-domain"]), len(wlan["access-points"])) == (True, 2, 1)
