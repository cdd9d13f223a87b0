"""The package's architecture: the layered import contract and no reads of private members.

The import contract (setup.cfg, ``[importlinter]``) says each layer imports only the layers
below it, engines never import each other, and nothing inside the package imports the old
module paths. Private members (a leading underscore) belong to their module or class: no other
module reads them.
"""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "snn_neurram"
#: the root's own private modules: utilities every layer may use
SHARED_PRIVATE_MODULES = {"_checks", "_io", "_seeds", "_version"}
#: the public API of NamedTuple, spelled with an underscore
NAMEDTUPLE_API = {"_asdict", "_replace", "_fields", "_make"}


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def private_reads(source, filename="<string>"):
    """(line, text) of every read of another object's or module's private member."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr in NAMEDTUPLE_API:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom):
            module_parts = (node.module or "").split(".")
            for part in module_parts:
                if _private(part) and part not in SHARED_PRIVATE_MODULES:
                    found.append((node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                if _private(alias.name) and alias.name not in SHARED_PRIVATE_MODULES:
                    found.append((node.lineno, f"import {alias.name} from {node.module}"))
    return found


def test_private_member_check_can_fail():
    src = "def f(core):\n    return core._gain(1)\nfrom .spiking import _SpikingLayer\n"
    assert sorted(line for line, _ in private_reads(src)) == [2, 3]
    assert private_reads("class A:\n    def f(self):\n        return self._x\n") == []


def test_no_module_reads_another_modules_private_member():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in private_reads(path.read_text(), str(path)):
            bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text}")
    assert not bad, "private members read from outside their owner:\n" + "\n".join(bad)


def test_layered_import_contract():
    exe = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    run = subprocess.run([exe, "--config", str(PACKAGE.parent / "setup.cfg")],
                         capture_output=True, text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout
