"""Every ```python block of README.md and of every docs/*.md page runs as pasted.

Rules (what a page may rely on, and what this test checks):

- **One namespace per page.** A page's ```python blocks run in order, in one fresh namespace
  (``__name__ == "__main__"``), in a fresh temporary working directory that is also
  ``$XDG_CACHE_HOME`` (so generated data sets are made afresh), with matplotlib's Agg
  backend. A block may use what an earlier block of the *same* page defined, nothing else. One
  pytest case per page (its id is the page's file name); a failure names the page and the
  block's number (0-based, counting the page's ```python blocks) and line.
- **Opt-outs.** A block runs unless the line just before its fence (blank lines aside) is an
  HTML comment ``<!-- not run: REASON -->`` with a non-empty reason. Opt-outs are for blocks that
  need data that cannot exist here or that take many minutes. They are counted and listed:
  ``test_opt_outs_are_few_and_say_why`` prints them and fails when a marker has no reason or
  there are more than ``MAX_OPT_OUTS``.
- **Printed output.** When a ```python block is followed, with only blank lines between, by a
  ```text block or a bare ``` block, that block is what the python block prints: the test
  compares the block's captured stdout (not stderr, where progress bars go) with it after
  normalising whitespace (each line stripped, runs of spaces and tabs collapsed to one, blank
  lines dropped). Two wildcards, as in doctest's
  ELLIPSIS: a line that is only ``...`` matches any number of lines (also none), and ``...``
  inside a line matches any text. A page shows output that is not deterministic (wall times,
  progress) with ``...`` in its place, or puts ``<!-- output not checked: REASON -->`` on the
  line before the output fence (counted and listed with the opt-outs). Output shown anywhere
  else (after prose, in a ```sh block's neighbourhood) is illustration and is not compared.
- **Optional extras.** A page whose blocks import a missing optional package (torch, snntorch,
  nir, dask/distributed, pandas, pyarrow, librosa, h5py) or need the ``espeak-ng`` program is
  skipped with the reason and the install command (tests/optional.py); here all are installed.

tests/test_docs_pages.py (docs/snn.md, temporal.md, ising.md) and tests/test_rbm_sklearn.py
(docs/rbm.md) run those pages as well and add assertions on the objects their blocks build; here
they are checked by what they print (the four pages take about 15 s together).
"""

import contextlib
import glob
import io
import os
import re
import shutil
import time

import pytest
from optional import REASONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: At most this many blocks over all pages may opt out of running.
MAX_OPT_OUTS = 3

#: Programs (not Python packages) a page may need, and how to get them.
PROGRAMS = {
    "espeak-ng": (("load_keywords", "make_keywords"),
                  "espeak-ng synthesises the spoken keywords: apt-get install espeak-ng"),
}

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.*?)\s*-->$")
_NOT_CHECKED = re.compile(r"^<!--\s*output not checked:\s*(.*?)\s*-->$")


def _pages():
    pages = [os.path.join(ROOT, "README.md")]
    pages += sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return pages


def _parse(path):
    """The page's fenced blocks: dicts with lang, code, line (1-based, of the opening fence),
    marker (the comment just before the fence, or None)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, k = [], 0
    while k < len(lines):
        m = _FENCE.match(lines[k])
        if not m:
            k += 1
            continue
        ticks, lang, start = m.group(1), m.group(2), k
        j = k + 1
        while j < len(lines) and lines[j].strip() != ticks:
            j += 1
        prev = start - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        marker = lines[prev].strip() if prev >= 0 and lines[prev].strip().startswith("<!--") \
            else None
        blocks.append({"lang": lang, "code": "\n".join(lines[start + 1:j]) + "\n",
                       "line": start + 1, "end": j + 1, "marker": marker,
                       "gap": "\n".join(lines[blocks[-1]["end"]:start]).strip()
                       if blocks else None})
        k = j + 1
    return blocks


def _python_blocks(path):
    """[(number, block, expected output or None, output marker or None)] of the page."""
    blocks = _parse(path)
    out, n = [], 0
    for i, b in enumerate(blocks):
        if b["lang"] != "python":
            continue
        expected = marker = None
        if i + 1 < len(blocks):
            nxt = blocks[i + 1]
            between = nxt["gap"]
            if nxt["lang"] in ("", "text") and (not between or _NOT_CHECKED.match(between)):
                expected = nxt["code"]
                marker = between or None
        out.append((n, b, expected, marker))
        n += 1
    return out


def _name(path):
    return os.path.relpath(path, ROOT) if os.path.basename(path) == "README.md" \
        else os.path.basename(path)


PAGES = [p for p in _pages() if _python_blocks(p)]


# ------------------------------------------------------------------------- output comparison
def _norm(text):
    return [re.sub(r"[ \t]+", " ", line.strip()) for line in text.splitlines() if line.strip()]


def _line_matches(pattern, line):
    if "..." not in pattern:
        return pattern == line
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, line) is not None


def _matches(expected, got):
    """Expected lines (with ``...`` wildcards) against the printed lines."""
    memo = {}

    def go(i, j):
        if (i, j) in memo:
            return memo[i, j]
        if i == len(expected):
            result = j == len(got)
        elif expected[i] == "...":
            result = any(go(i + 1, k) for k in range(j, len(got) + 1))
        else:
            result = j < len(got) and _line_matches(expected[i], got[j]) and go(i + 1, j + 1)
        memo[i, j] = result
        return result

    return go(0, 0)


def test_the_output_rule_on_examples():
    assert _matches(_norm("a  1\n...\nz"), _norm("a 1\nb\nc\nz\n"))
    assert _matches(_norm("a ... b"), _norm(" a 12 b "))
    assert _matches(_norm("x\n...\n"), _norm("x\n"))
    assert not _matches(_norm("a 1"), _norm("a 2"))
    assert not _matches(_norm("a\nb"), _norm("a\nb\nc"))


# ------------------------------------------------------------------------------- the pages
def _skip_if_missing(name, code_of_page):
    for program, (needles, reason) in PROGRAMS.items():
        if any(n in code_of_page for n in needles) and shutil.which(program) is None:
            pytest.skip(f"{name} needs the {program} program: {reason}")


def _missing_optional(exc):
    """The optional package whose absence raised exc (also when the package re-raised it as
    an ImportError with advice, as snn_neurram.training does), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError):
            top = (exc.name or "").split(".")[0]
            if top in REASONS:
                return top
        exc = exc.__cause__ or exc.__context__
    return None


def _run_page(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    name = _name(path)
    entries = _python_blocks(path)
    _skip_if_missing(name, "".join(b["code"] for _, b, _, _ in entries))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    ran, times = 0, []
    try:
        for number, block, expected, out_marker in entries:
            if block["marker"] and _NOT_RUN.match(block["marker"]):
                continue
            where = f"{name} block {number} (line {block['line']})"
            stdout = io.StringIO()
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stdout(stdout):
                    exec(compile(block["code"], where, "exec"), namespace)
            except Exception as exc:
                missing = _missing_optional(exc)
                if missing:
                    pytest.skip(f"{name} needs {missing}: {REASONS[missing]}")
                raise AssertionError(f"{where} fails: {exc!r}\n{block['code']}") from exc
            times.append((number, time.perf_counter() - t0))
            ran += 1
            printed = stdout.getvalue()
            print(printed, end="")
            if expected is not None and not (out_marker and _NOT_CHECKED.match(out_marker)):
                assert _matches(_norm(expected), _norm(printed)), (
                    f"{where} prints\n{printed}\nbut the page shows\n{expected}")
    finally:
        plt.close("all")
    print(f"{name}: {ran} blocks in " + ", ".join(f"#{n} {t:.1f} s" for n, t in times))
    return ran


def test_the_pages_are_found():
    names = [_name(p) for p in PAGES]
    assert "README.md" in names and "accuracy.md" in names and len(names) >= 10, names
    # the parser sees what the page shows: the ising page's block and its printed output
    [(number, block, expected, marker)] = _python_blocks(os.path.join(ROOT, "docs", "ising.md"))
    assert "IsingMachine" in block["code"] and expected and marker is None


@pytest.mark.parametrize("path", PAGES, ids=[_name(p) for p in PAGES])
def test_page_blocks_run_and_print_what_the_page_shows(path, tmp_path, monkeypatch):
    assert _run_page(path, tmp_path, monkeypatch) > 0


def test_opt_outs_are_few_and_say_why():
    opt_outs = []
    for path in _pages():
        for number, block, expected, out_marker in _python_blocks(path):
            for marker, pattern, kind in ((block["marker"], _NOT_RUN, "not run"),
                                          (out_marker, _NOT_CHECKED, "output not checked")):
                m = pattern.match(marker or "")
                if m:
                    assert m.group(1), (f"{_name(path)} block {number}: a {kind} marker "
                                        "without a reason")
                    opt_outs.append(f"{_name(path)} block {number} ({kind}): {m.group(1)}")
    print(f"{len(opt_outs)} opt-outs" + "".join(f"\n  {o}" for o in opt_outs))
    assert len(opt_outs) <= MAX_OPT_OUTS, opt_outs
