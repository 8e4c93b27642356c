"""The documentation's examples: sybil runs each Python block of README.md and docs/*.md
(tests/_docs.py); these tests check that none escapes it, and run the pytest example of
docs/testing.md in a new project, as a reader would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from ._docs import EXAMPLES

ROOT: Final = Path(__file__).resolve().parent.parent
DOCUMENTS: Final = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LOOP_SCOPE_NAG: Final = 'The configuration option "asyncio_default_fixture_loop_scope" is unset'
_FENCE: Final = re.compile(r"^ *```python\s*$", re.M)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_every_python_block_is_an_example_that_runs(path: Path) -> None:
    assert EXAMPLES.should_parse(path)
    blocks = len(_FENCE.findall(path.read_text()))
    examples = list(EXAMPLES.parse(path).examples())
    assert len(examples) == blocks
    # A skip would have to say why in the markdown, visibly; there is none so far.
    assert "<!-- skip" not in path.read_text()


def _pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest run in ``project`` as in a new project: none of this repository's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _pytest_example() -> str:
    text = (ROOT / "docs" / "testing.md").read_text()
    match = re.search(r"<!-- a pytest module: [^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match is not None, "docs/testing.md has lost its marked pytest module"
    return match.group(1)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_testing_docs_pytest_module_passes_in_a_new_project(tmp_path: Path, mode: str) -> None:
    """pytest-asyncio's default is strict mode, where unmarked async tests fail with "async
    def functions are not natively supported"; the plugin must make the example pass there
    as written."""
    (tmp_path / "test_example.py").write_text(_pytest_example())
    # Warnings are errors, except pytest-asyncio's own nag to configure its loop scope,
    # which any new project gets, with or without this package.
    nag = f"ignore:{LOOP_SCOPE_NAG}:pytest.PytestDeprecationWarning"
    run = _pytest_in(tmp_path, "-W", "error", "-W", nag, "-o", f"asyncio_mode={mode}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    assert "warning" not in run.stdout.lower(), run.stdout
    assert "skipped" not in run.stdout


OTHER_TESTS: Final = """
import pytest


@pytest.fixture
def recording_sid(media_client, fake_media_server):  # uses the plugin's fixtures itself
    return fake_media_server.sids[1]


async def test_through_another_fixture(media_client, recording_sid):
    assert (await media_client.fetch(recording_sid)).sid == recording_sid


async def test_without_the_plugins_fixtures():  # strict mode: not the plugin's business
    pass
"""


def test_in_strict_mode_the_plugin_marks_only_the_tests_that_use_its_fixtures(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_other.py").write_text(OTHER_TESTS)
    run = _pytest_in(
        tmp_path,
        "-rA",
        "-o",
        "asyncio_mode=strict",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    assert "PASSED test_other.py::test_through_another_fixture" in run.stdout, run.stdout
    assert "FAILED test_other.py::test_without_the_plugins_fixtures" in run.stdout, run.stdout
    assert "async def functions are not natively supported" in run.stdout
