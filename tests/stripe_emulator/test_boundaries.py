"""The service's own code never imports the emulator (nor the rest of the dev stack)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ["api", "domain", "workflows", "activities", "migrations", "worker.py", "cli.py"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_service_code_does_not_import_devstack():
    files: list[Path] = []
    for entry in SERVICE:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    assert len(files) > 20
    offenders = {
        str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if n.split(".")[0] == "devstack")
        for f in files
    }
    assert {f: n for f, n in offenders.items() if n} == {}
