"""The API token: generated once with mode 0600, reused, or taken from the options."""

from __future__ import annotations

from pathlib import Path
import stat

from jarvis_addon import api_token


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_once_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"  # does not exist yet: created on demand
    first = api_token.load_or_create(data, None)
    path = data / api_token.TOKEN_FILE
    assert len(first) >= 40  # token_urlsafe(32): 43 characters
    assert mode(path) == 0o600
    assert path.read_text().strip() == first
    assert api_token.load_or_create(data, None) == first
    assert api_token.load_or_create(data, "") == first  # an empty option means "generate"
    assert [p.name for p in data.iterdir()] == [api_token.TOKEN_FILE]  # no temp files left behind


def test_each_installation_gets_its_own_token(tmp_path: Path) -> None:
    assert api_token.load_or_create(tmp_path / "a", None) != api_token.load_or_create(
        tmp_path / "b", None
    )


def test_configured_token_wins_and_is_not_written(tmp_path: Path) -> None:
    assert api_token.load_or_create(tmp_path, "from-options") == "from-options"
    assert not (tmp_path / api_token.TOKEN_FILE).exists()


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / api_token.TOKEN_FILE
    path.write_text("kept-token\n")
    path.chmod(0o644)
    assert api_token.load_or_create(tmp_path, None) == "kept-token"
    assert mode(path) == 0o600


def test_empty_token_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / api_token.TOKEN_FILE).write_text("\n")
    token = api_token.load_or_create(tmp_path, None)
    assert token and (tmp_path / api_token.TOKEN_FILE).read_text().strip() == token


def test_instance_id_generated_once_and_reused(tmp_path: Path) -> None:
    first = api_token.load_or_create_instance_id(tmp_path)
    assert len(first) == 32 and int(first, 16) >= 0
    assert (tmp_path / api_token.INSTANCE_ID_FILE).stat().st_mode & 0o777 == 0o600
    assert api_token.load_or_create_instance_id(tmp_path) == first
    assert api_token.load_or_create_instance_id(tmp_path / "other") != first
