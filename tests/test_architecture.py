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
    run = subprocess.run([exe, str(PACKAGE.parent / "setup.cfg")],
                         capture_output=True, text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def unannotated_public_functions(source, filename="<string>"):
    """Names of public functions and methods (``__init__`` included) of public classes that lack
    a parameter or return annotation."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef) and not _private(child.name):
                visit(child, prefix + child.name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name.startswith("_") and child.name != "__init__":
                    continue
                a = child.args
                params = [p for p in a.posonlyargs + a.args + a.kwonlyargs
                          if p.arg not in ("self", "cls")]
                params += [p for p in (a.vararg, a.kwarg) if p is not None]
                if any(p.annotation is None for p in params) or (
                        child.returns is None and child.name != "__init__"):
                    out.append(prefix + child.name)

    visit(ast.parse(source, filename), "")
    return out


def test_annotation_check_can_fail():
    assert unannotated_public_functions("def f(x) -> int:\n    return x\n") == ["f"]
    assert unannotated_public_functions("class A:\n    def g(self, y: int):\n        pass\n") \
        == ["A.g"]
    assert unannotated_public_functions("def _h(x):\n    pass\n") == []


def test_every_public_function_has_type_hints():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in unannotated_public_functions(path.read_text(), str(path)):
            bad.append(f"{path.relative_to(PACKAGE.parent)}: {name}")
    assert not bad, "public functions without type hints:\n" + "\n".join(bad)


def test_no_import_cycle():
    grimp = pytest.importorskip("grimp")            # comes with import-linter
    graph = grimp.build_graph("snn_neurram")
    modules = [m for m in graph.modules if m.startswith("snn_neurram")]
    cycles = []
    for m in modules:
        for other in graph.find_modules_directly_imported_by(m):
            if other != m and other.startswith("snn_neurram") and graph.chain_exists(
                    importer=other, imported=m):
                cycles.append(f"{m} -> {other} -> ... -> {m}")
    assert not cycles, "\n".join(sorted(cycles)[:20])
