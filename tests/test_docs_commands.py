"""Every ``snn-neurram`` command line that README.md and docs/*.md show is one the command line
accepts: each is parsed (and checked) by the CLI's own parser without running it, so that a
renamed option or subcommand cannot leave a page behind. The Python blocks of the pages are run
by tests/test_docs_run.py."""

import os
import re
import shlex

import pytest

from snn_neurram.apps.cli import parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.join("docs", f)
                               for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
#: Placeholders the pages write for a path the reader chooses, and what the test gives instead.
PLACEHOLDERS = {"PATH": "out.json", "OUT": "out", "FOLDER": "data"}
#: Command lines shown for a reason other than running them as they stand, with the reason.
NOT_RUNNABLE = {
    "synopsis": re.compile(r"\[|MODEL|SPEC|GSET_FILE|\|"),       # usage lines: [--opt], A|B
    "error message shown": re.compile(r": error:"),
    "needs data that cannot exist here": re.compile(r"~/data/"),
    "a scheduler on other machines": re.compile(r"tcp://10\.0\.0\.1"),
    "a subcommand named in prose": re.compile(r"^snn-neurram (sweep|data)$"),
}


def _commands():
    """(page, line number, command) for every snn-neurram command in a code span or block."""
    found = []
    for page in PAGES:
        with open(os.path.join(ROOT, page), encoding="utf-8") as fh:
            text = fh.read()
        spans = [(m.start(), m.group(1)) for m in re.finditer(r"```(?:sh|bash|console)?\n(.*?)```",
                                                              text, flags=re.S)]
        spans += [(m.start(), m.group(1)) for m in re.finditer(r"`(snn-neurram [^`\n]+)`", text)]
        for start, body in spans:
            for k, line in enumerate(body.splitlines()):
                line = line.split(" #")[0].strip()
                if line.startswith("snn-neurram ") and line != "snn-neurram":
                    found.append((page, text.count("\n", 0, start) + 1 + k, line))
    return found


def _not_runnable(command):
    return [why for why, pattern in NOT_RUNNABLE.items() if pattern.search(command)]


FOUND = _commands()
COMMANDS = [c for c in FOUND if not _not_runnable(c[2])]


def test_the_pages_show_commands_of_every_subcommand():
    shown = {c.split()[1] for _, _, c in COMMANDS}
    assert shown >= {"demo", "map", "energy", "compare", "bench", "sweep", "data"}


def test_few_command_lines_are_left_out():
    """Synopses, error messages and the like are not parsed; they stay the exception."""
    left_out = [f"{p}:{n}: {_not_runnable(c)[0]}" for p, n, c in FOUND if _not_runnable(c)]
    assert len(left_out) <= 10, left_out
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize("page, line, command", COMMANDS,
                         ids=[f"{p}:{n}" for p, n, _ in COMMANDS])
def test_documented_command_parses(page, line, command, tmp_path, monkeypatch):
    # the page's relative paths (docs/examples/..., scripts/...) from the repository's root; the
    # output folders the command names go to a temporary folder
    monkeypatch.chdir(tmp_path)
    for name in ("docs", "scripts"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    (tmp_path / "data").mkdir()
    argv = [PLACEHOLDERS.get(a, a.replace("OUT/", "out/")) for a in shlex.split(command)[1:]]
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{page}:{line}: `{command}` is refused by the command line "
                             f"(exit {exc.code})") from None
    assert args.command == argv[0]
