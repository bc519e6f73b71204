"""`aura` as a user types it: help, and bad input refused before any work (no Prefect needed)."""

import subprocess
import sys
from pathlib import Path

import pytest

AURA = str(Path(sys.executable).with_name("aura"))


def test_help_lists_the_commands() -> None:
    result = subprocess.run([AURA, "--help"], capture_output=True, text=True, check=True)
    for command in ("generate", "voices", "server", "serve", "worker", "api"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", " "], "brief.topic"),
        (["generate", "Bees", "--duration", "0"], "plan.targetDurationSeconds"),
        (["generate", "Bees", "--aspect", "4:3"], "brief.aspect"),
        (["generate", "Bees", "--width", "641"], "render.width"),
        (["generate", "Bees", "--voice", "klingon"], "voice.name"),
        (["generate", "Bees", "--job-id", "../escape"], "--job-id"),
    ],
)
def test_bad_input_exits_2_naming_the_field_before_any_work(args: list[str], message: str) -> None:
    result = subprocess.run([AURA, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Prefect" not in result.stdout


def test_the_command_line_imports_prefect_only_once_it_knows_which_server() -> None:
    # Prefect reads PREFECT_API_URL when first imported; `aura serve` sets it after finding or starting
    # the server. Imported earlier, its client would provision another server than the one deployed to.
    probe = "import sys, api.cli.app; print('prefect' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "Bees", "--from", "briefs.csv"], "give no topic"),
        (["generate", "--from", "no-such.csv"], "no-such.csv"),
    ],
)
def test_generate_from_a_csv_refuses_a_topic_beside_it_and_a_missing_file(
    args: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "briefs.csv").write_text("topic\nBees\n")
    result = subprocess.run([AURA, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
