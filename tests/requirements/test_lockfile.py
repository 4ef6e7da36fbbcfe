"""The lock files: in step with pyproject.toml, and the check that refuses a stale one.

`requirements/lockfile.py check` is what `make dev` / `make test` run before installing; these
tests run it the same way (a subprocess, its exit status and message) on copies of the files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"


def run_check(pyproject: Path, runtime: Path, dev: Path) -> subprocess.CompletedProcess[str]:
    script = str(LOCKS / "lockfile.py")
    return subprocess.run(
        [sys.executable, script, "--pyproject", str(pyproject), "check", str(runtime), str(dev)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def edited_pyproject(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_committed_locks_match_pyproject() -> None:
    result = run_check(ROOT / "pyproject.toml", LOCKS / "runtime.txt", LOCKS / "dev.txt")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('    "granian>=2.2",', '    "granian>=2.2",\n    "orjson>=3.10",'),  # a new dependency
        ('"pytest>=8.3",', '"pytest>=8.4",'),  # a tightened range in an extra
        ('requires = ["setuptools>=77"]', 'requires = ["setuptools>=78"]'),  # the build backend
        ('requires-python = ">=3.11"', 'requires-python = ">=3.12"'),
    ],
    ids=["dependency", "extra", "build-system", "requires-python"],
)
def test_a_dependency_change_without_make_lock_is_refused(
    tmp_path: Path, old: str, new: str
) -> None:
    pyproject = edited_pyproject(tmp_path, old, new)

    result = run_check(pyproject, LOCKS / "runtime.txt", LOCKS / "dev.txt")

    assert result.returncode == 1
    assert "requirements/runtime.txt was not made from this pyproject.toml" in result.stderr
    assert "requirements/dev.txt was not made from this pyproject.toml" in result.stderr
    assert "run `make lock`" in result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('version = "0.1.0"', 'version = "0.2.0"'),
        ("line-length = 100", "line-length = 99"),
        ('"granian>=2.2",          # ASGI server', '"granian>=2.2",  # the ASGI server'),
    ],
    ids=["project-version", "tool-config", "comment"],
)
def test_changes_that_resolve_nothing_keep_the_lock(tmp_path: Path, old: str, new: str) -> None:
    pyproject = edited_pyproject(tmp_path, old, new)

    result = run_check(pyproject, LOCKS / "runtime.txt", LOCKS / "dev.txt")

    assert result.returncode == 0, result.stderr


def test_a_runtime_pin_the_tests_did_not_run_is_refused(tmp_path: Path) -> None:
    """The image must run exactly the versions the suite ran with."""
    text = (LOCKS / "runtime.txt").read_text(encoding="utf-8")
    pinned = re.search(r"^granian==(\S+) ", text, re.MULTILINE)
    assert pinned
    runtime = tmp_path / "runtime.txt"
    runtime.write_text(text.replace(f"granian=={pinned[1]} ", "granian==0.0.1 "), encoding="utf-8")

    result = run_check(ROOT / "pyproject.toml", runtime, LOCKS / "dev.txt")

    assert result.returncode == 1
    assert "dev.txt does not: granian==0.0.1" in result.stderr


@pytest.mark.parametrize("lock", ["runtime.txt", "dev.txt", "uv.txt", "pip.txt"])
def test_every_requirement_is_an_exact_pin_with_hashes(lock: str) -> None:
    blocks = re.split(r"\n(?=[^\s#])", (LOCKS / lock).read_text(encoding="utf-8"))
    requirements = [block for block in blocks if not block.startswith("#")]
    assert requirements
    for block in requirements:
        first = block.splitlines()[0]
        assert re.match(r"^[a-z0-9][a-z0-9._-]*==\S+", first), first
        assert "--hash=sha256:" in block, first
