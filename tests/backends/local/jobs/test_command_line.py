"""The command line a job's shell runs: values quoted where they stand, optional segments, any kind of value.

Each rendered line is run by the real shell (the one jobs use), so "reaches the script literally" is
what the shell did, not what a string looks like.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio_ext.backends.local.jobs.command_line import program, render, shell_argv
from studio_ext.errors import InvalidInput

PRINT = 'python -c "import json, sys; print(json.dumps(sys.argv[1:]))"'
NASTY = ["; rm -rf ~", "$(id)", "`id`", "it's", 'say "hi"', "two\nlines", "back\\slash", "$HOME", "*", "", "-n",
         "a b", "'\"'$(x)\\'", "${{inputs.other}}", "!!", "~", "#not a comment", "&& echo pwned"]


def shell(line: str) -> list[str]:
    done = subprocess.run(shell_argv(line, sys.executable), capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


PLACES = {"{v}": "{v}", '"{v}"': "{v}", "'{v}'": "{v}", "$'{v}'": "{v}", "pre{v}post": "pre{v}post",
          '"pre {v} post"': "pre {v} post"}


@pytest.mark.parametrize("place", PLACES)
def test_every_value_reaches_the_script_as_it_is_wherever_it_stands(place: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("here")
    values = [*NASTY, f"; rm {canary}", f"$(rm {canary})", f"`rm {canary}`"]
    words = [place.replace("{v}", "${{inputs.v" + str(i) + "}}") for i in range(len(values))]
    line = render(PRINT + " " + " ".join(words), {"inputs": {f"v{i}": v for i, v in enumerate(values)}})
    assert shell(line) == [PLACES[place].replace("{v}", v) for v in values]
    assert canary.read_text() == "here"


def test_the_shell_runs_the_command_line_itself(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    line = render("echo hi && " + PRINT + " ${{inputs.x}} > ${{outputs.o}}/x.txt; cat ${{outputs.o}}/x.txt",
                  {"inputs": {"x": "$(id)"}, "outputs": {"o": str(out)}})
    done = subprocess.run(shell_argv(line, sys.executable), capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout == 'hi\n["$(id)"]\n'
    # the job's interpreter is first on PATH: `python` is the environment's
    where = subprocess.run(shell_argv("command -v python", sys.executable), capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(Path(sys.executable).parent / "python")


def test_optional_segments_and_kinds() -> None:
    values = {"inputs": {"x": None, "y": "1"}, "search_space": {"lr": "0.1"}}
    assert render("python t.py $[[--x ${{inputs.x}}]] $[[--y ${{inputs.y}}]] --lr ${{search_space.lr}}",
                  values) == "python t.py  --y 1 --lr 0.1"
    with pytest.raises(InvalidInput, match=r"outside an optional segment"):
        render("python t.py --x ${{inputs.x}}", values)
    with pytest.raises(InvalidInput, match=r"has no input 'z'. Its inputs: x, y"):
        render("python t.py ${{inputs.z}}", values)
    with pytest.raises(InvalidInput, match=r"'outputs' values are not known"):
        render("python t.py ${{outputs.o}}", values)
    with pytest.raises(InvalidInput, match="unclosed"):
        render("python t.py 'open", values)
    with pytest.raises(InvalidInput, match="no command"):
        render("  ", values)
    # a value that looks like a placeholder is not substituted again
    assert render("echo ${{inputs.a}}", {"inputs": {"a": "${{inputs.b}}", "b": "x"}}) == "echo '${{inputs.b}}'"


def test_a_plain_command_is_known_as_one() -> None:
    assert program("python -m pkg --x 'a b' /tmp/f") == ["python", "-m", "pkg", "--x", "a b", "/tmp/f"]
    for line in ("echo a && b", "python a.py > out", "python $X", "python *.py", "python a.py | cat", "a\nb"):
        assert program(line) is None
