"""The import rules of docs/architecture.md hold, and a broken one fails the tests, not only `make lint`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("api", "flows", "blocks", "web")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter with the project's contracts, on the packages found first in `tree`."""
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_packages(folder: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_the_code_keeps_every_import_rule() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_flow_importing_the_api_breaks_the_rules(tmp_path: Path) -> None:
    tree = copy_of_the_packages(tmp_path)
    video = tree / "flows" / "video.py"
    video.write_text(video.read_text() + "\nimport api.main  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "flows never imports api BROKEN" in result.stdout


def test_a_route_holding_a_prefect_client_breaks_the_rules(tmp_path: Path) -> None:
    tree = copy_of_the_packages(tmp_path)
    route = tree / "api" / "routes" / "queue.py"
    route.write_text(route.read_text() + "\nfrom prefect.client.orchestration import get_client  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "api.routes hold no Prefect client: they call api.service BROKEN" in result.stdout
