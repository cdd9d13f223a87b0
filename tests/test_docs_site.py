"""The documentation site (mkdocs.yml: the guide of docs/*.md and the API reference of docs/api/)
builds in strict mode -- no broken link, anchor or cross-reference, no docstring warning -- and
holds every guide page and the API pages."""

import glob
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HINT = ("the documentation site needs MkDocs with the Material theme and mkdocstrings (the docs "
        "extra, installed by make test): pip install 'snn_neurram[docs]'")
API_PAGES = ["snn_neurram", "errors", "physics", "nn", "hw", "compiler", "engines", "brian",
             "program", "training", "analysis", "apps"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            pytest.skip(f"{module} is missing: {HINT}")
    out = tmp_path_factory.mktemp("docs") / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "--config-file", os.path.join(ROOT, "mkdocs.yml"),
                          "--site-dir", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, log
    return out


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_every_guide_page_is_in_the_site(site):
    assert (site / "index.html").is_file()
    assert "snn_neurram user guide" in _read(site / "index.html")
    pages = [os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))]
    assert "chip" in pages and "core" in pages
    for page in pages:
        if page != "index":
            assert (site / page / "index.html").is_file(), page


def test_the_api_pages_document_the_public_objects(site):
    for page in ["index"] + API_PAGES:
        path = site / "api" / (page + "/index.html" if page != "index" else "index.html")
        assert path.is_file(), path
    top = _read(site / "api" / "snn_neurram" / "index.html")
    import snn_neurram
    for name in snn_neurram.__all__:
        if not name.startswith("_"):
            assert f'id="snn_neurram.{name}"' in top, name
    assert 'id="snn_neurram.hw.chip.Chip"' in _read(site / "api" / "hw" / "index.html")
    assert 'id="snn_neurram.physics.device.RRAMDevice"' in _read(
        site / "api" / "physics" / "index.html")


def test_sphinx_roles_of_the_docstrings_become_links(site):
    """docs/api/griffe_sphinx_roles.py: no `:class:` text is left; `Chip` names link to it."""
    html = "".join(_read(site / "api" / page / "index.html") for page in API_PAGES)
    for role in (":class:", ":func:", ":meth:", ":mod:"):
        assert role not in html, role
    assert 'href="../hw/#snn_neurram.hw.chip.Chip"' in html
