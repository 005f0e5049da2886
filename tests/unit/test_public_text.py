"""Error answers bound echoed input and hide this host's paths (issue #15, finding 8; hostgate._public)."""

from __future__ import annotations

from pathlib import Path

from hostgate.errors import ModelNotFound, RemoteError, UsageError


def test_a_long_quoted_value_keeps_its_start_and_says_its_length() -> None:
    payload = UsageError(f"field 'name': expected str, got {'x' * 1_000_000!r}").to_payload()
    assert len(payload["message"]) < 300
    assert payload["message"].endswith("…' (1000000 characters)")
    assert payload["message"].startswith("field 'name': expected str, got 'xxx")


def test_short_quotes_urls_and_route_paths_are_kept() -> None:
    text = "no model 'a' (models: 'b', 'c'); see /api/v1/sessions or https://h:1/api/v1/health"
    assert UsageError(text).to_payload()["message"] == text


def test_an_unquoted_echo_is_cut_too() -> None:
    message = UsageError("y" * 100_000).to_payload()["message"]
    assert len(message) < 2100 and message.endswith("… (100000 characters)")


def test_paths_of_this_host_are_hidden_but_the_cli_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "models" / "deep.yaml"
    error = ModelNotFound(f"model 'deep' does not validate: {path}: not well-formed YAML")
    assert (
        error.to_payload()["message"] == "model 'deep' does not validate: …/deep.yaml: not well-formed YAML"
    )
    assert str(path) in error.to_payload(public=False)["message"]


def test_a_remote_error_keeps_its_code_and_is_bounded() -> None:
    payload = RemoteError("HG-9001", "got " + repr("z" * 5000)).to_payload()
    assert payload["code"] == "HG-9001" and len(payload["message"]) < 300
