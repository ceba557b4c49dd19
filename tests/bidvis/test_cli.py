"""The `bidvis` command gathers every part's commands."""

from typer.testing import CliRunner

from bidvis.cli import app


def test_help_lists_the_demo_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output


def test_unknown_command_fails_with_usage_error():
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2
