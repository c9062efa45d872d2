"""The READMEs tell the truth about commands and files: the quick start is what CI runs, every command-line entry
point they name (``ferlive ...``, ``python -m app.x``, ``python -m training.x``) answers ``--help``, and every
relative link or image points at a file that exists.

Commands are read from fenced ``bash`` blocks and inline code, so the prose around them can change freely."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "training" / "README.md", ROOT / "tests" / "README.md",
        *sorted((ROOT / "docs").glob("*.md"))]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS: dict[str, str] = PYPROJECT["project"].get("scripts", {})  # e.g. ferlive = "app.cli:main"
OUR_PACKAGES = ("app", "training")

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img[^>]*\ssrc=\"([^\"]+)\"")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
SUBCOMMAND = re.compile(r"^[a-z][a-z_]*$")  # a bare word right after the program: `ferlive analyze`, `carry split`


def bash_blocks(text: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang in ("bash", "sh", "shell")]


def without_code(text: str) -> str:
    """``text`` with fenced blocks blanked (same length, so positions still match): a ``# comment`` in a bash
    block is not a heading."""
    return FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def command_lines(block: str) -> list[str]:
    """Shell lines of a block: continuations joined, comments and blank lines dropped, whitespace collapsed."""
    joined = re.sub(r"\\\n", " ", block)
    lines = (re.sub(r"(^|\s)#.*$", "", line) for line in joined.splitlines())
    return [" ".join(line.split()) for line in lines if line.strip()]


def section(text: str, title: str) -> str:
    """The text under the first heading that starts with ``title``, up to the next heading of the same or a
    higher level."""
    headings = list(HEADING.finditer(without_code(text)))
    for i, h in enumerate(headings):
        if h.group(2).lower().startswith(title.lower()):
            level = len(h.group(1))
            end = next((n.start() for n in headings[i + 1:] if len(n.group(1)) <= level), len(text))
            return text[h.end():end]
    raise AssertionError(f"no heading starting with {title!r}")


def entry_points(command: str) -> list[tuple[str, ...]]:
    """``(program, [subcommand])`` for each of our CLIs a shell line runs: ``python -m training.carry split ...``
    gives ``("training.carry", "split")``, ``ferlive --source 0`` gives ``("ferlive",)``."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    found = []
    for i, tok in enumerate(tokens):
        if tok in ("python", "python3") and tokens[i + 1:i + 2] == ["-m"] and len(tokens) > i + 2:
            program, rest = tokens[i + 2], tokens[i + 3:]
            if program.split(".")[0] not in OUR_PACKAGES:
                continue
        elif tok in SCRIPTS:
            program, rest = tok, tokens[i + 1:]
        else:
            continue
        sub = rest[:1] if rest and SUBCOMMAND.match(rest[0]) else []
        found.append((program, *sub))
    return found


def documented_entry_points() -> list[tuple[str, ...]]:
    """Every entry point named in a bash block or in inline code of the READMEs and docs/, once each, in order."""
    seen: dict[tuple[str, ...], None] = {}
    for doc in DOCS:
        text = doc.read_text()
        commands = [line for block in bash_blocks(text) for line in command_lines(block)]
        commands += INLINE_CODE.findall(without_code(text))
        for command in commands:
            for entry in entry_points(command):
                seen.setdefault(entry, None)
    return list(seen)


ENTRY_POINTS = documented_entry_points()

# One interpreter runs every --help in turn (torch is imported once, not once per command), exactly as
# ``python -m X`` (runpy) or the installed console script (the function named in pyproject) would.
_HELP_RUNNER = r"""
import contextlib, importlib, io, json, runpy, sys, warnings
entries, scripts, out_path = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
warnings.simplefilter("ignore")  # runpy warns when a module it runs as __main__ was imported by an earlier one
results = []
for entry in entries:
    program, args = entry[0], entry[1:] + ["--help"]
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            sys.argv = [program, *args]
            if program in scripts:
                module, func = scripts[program].split(":")
                code = getattr(importlib.import_module(module), func)()
            else:
                runpy.run_module(program, run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            code = f"{type(exc).__name__}: {exc}"
    code = 0 if code is None else code
    results.append({"entry": entry, "code": code, "output": buf.getvalue()[:4000]})
with open(out_path, "w") as fh:
    json.dump(results, fh)
"""


@pytest.fixture(scope="module")
def help_results(tmp_path_factory) -> dict[tuple[str, ...], dict]:
    out = tmp_path_factory.mktemp("help") / "results.json"
    proc = subprocess.run(
        [sys.executable, "-c", _HELP_RUNNER, json.dumps([list(e) for e in ENTRY_POINTS]), json.dumps(SCRIPTS),
         str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert out.exists(), f"the --help runner died (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return {tuple(r["entry"]): r for r in json.loads(out.read_text())}


def test_the_readmes_name_the_main_entry_points():
    """Guards the extraction itself: if these vanish, the regexes no longer read the READMEs."""
    assert ("ferlive",) in ENTRY_POINTS
    assert ("training.train",) in ENTRY_POINTS
    assert len(ENTRY_POINTS) >= 10, ENTRY_POINTS


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=" ".join)
def test_every_documented_entry_point_answers_help(entry, help_results):
    result = help_results[entry]
    assert result["code"] == 0, f"{' '.join(entry)} --help exited {result['code']}:\n{result['output']}"
    assert "usage:" in result["output"].lower(), result["output"]


def test_quick_start_is_what_ci_runs():
    """The quick start's two commands: set up and start the app; set up and run the tests, exactly as .ci/run does."""
    blocks = bash_blocks(section((ROOT / "README.md").read_text(), "Quick start"))
    commands = [line for block in blocks for line in command_lines(block)]
    assert len(commands) >= 2, f"expected the app and the test commands under 'Quick start', found {commands}"
    ci = [line for line in command_lines((ROOT / ".ci" / "run").read_text()) if "pytest" in line]
    assert len(ci) == 1, ci

    tests = [c for c in commands if "pytest" in c]
    assert tests == ci, "README's test command differs from what .ci/run runs"

    app = commands[0]
    steps = [s.strip() for s in app.split("&&")]
    ci_steps = [s.strip() for s in ci[0].split("&&")]
    assert steps[:2] == ci_steps[:2], "the app command should create and activate the venv as CI does"
    assert any(re.fullmatch(r"pip install -e \.|pip install -e \"?\.\[[\w,]+\]\"?", s) for s in steps), steps
    assert steps[-1] == "ferlive" and "ferlive" in SCRIPTS, "the app command ends by starting the installed app"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_pip_extras_in_the_docs_exist(doc):
    extras = set(PYPROJECT["project"].get("optional-dependencies", {}))
    named = {e for group in re.findall(r"pip install -e \"?\.\[([\w,]+)\]", doc.read_text()) for e in group.split(",")}
    assert named <= extras, f"{doc.name} installs extras that pyproject.toml lacks: {sorted(named - extras)}"


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped (``_`` and ``-`` kept), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_exist(doc):
    text = doc.read_text()
    prose = without_code(text)
    anchors = {github_anchor(h.group(2)) for h in HEADING.finditer(prose)}
    broken = []
    for match in LINK.finditer(prose):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in anchors:
                broken.append(f"#{anchor} (no such heading)")
        elif not (doc.parent / path).exists():
            broken.append(path)
    assert not broken, f"{doc.relative_to(ROOT)} links to what does not exist: {broken}"


def test_readme_stays_a_one_page_read():
    """The README is the front page, kept under 10,000 bytes; the details live in docs/, training/ and tests/."""
    assert len((ROOT / "README.md").read_bytes()) < 10_000
