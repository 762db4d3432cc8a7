"""A job's command line, as Azure ML runs it: one shell line with its ``${{...}}`` values put in, quoted.

Azure ML hands a command job's ``command`` to a shell on the node, so ``echo hi && python
a.py > ${{outputs.o}}/x.txt`` works there, and works here the same way. What differs:
every value put in for ``${{inputs.NAME}}``, ``${{outputs.NAME}}`` or
``${{search_space.NAME}}`` (or any other kind a caller passes) is quoted for the shell
at the place it stands, so a value never runs as code. A value ``; rm -rf ~`` or
``$(id)`` reaches the script as those characters:

* outside quotes it is written as :func:`shlex.quote` writes it (``'; rm -rf ~'``);
* inside ``"..."`` its ``\\``, ``"``, ``$`` and backquote get a backslash, so
  ``--msg "${{inputs.msg}}"`` still passes one argument without stray quotes;
* inside ``'...'`` (and ``$'...'``) its own single quotes (and backslashes) are escaped.

``$[[ ... ]]`` is Azure's optional segment: ``python t.py $[[--x ${{inputs.x}}]]``
keeps ``--x VALUE`` when the input is given and drops the whole segment when an
optional input is left out. A left-out input used outside such a segment is refused.

Standard library only: the sweep and pipeline runners use the same :func:`render`.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping

from studio_ext.errors import InvalidInput

__all__ = ["PLACEHOLDER", "SHELL", "program", "render", "shell_argv"]

PLACEHOLDER = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.S)
# Azure's nodes run the command with bash; /bin/sh where a machine has no bash.
SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
# The shell puts the job's interpreter ($1, see shell_argv) first on PATH, as an activated environment does.
_PREAMBLE = 'PATH="${1%/*}:$PATH"; export PATH\n'

Values = Mapping[str, Mapping[str, "str | None"]]


def render(command: str, values: Values) -> str:
    """``command`` with every ``${{KIND.NAME}}`` replaced by ``values[KIND][NAME]``, quoted for the shell.

    A value of None means an optional value left out: the ``$[[...]]`` segment holding it
    is dropped. Raises InvalidInput for an unknown kind or name, and for a left-out value
    used outside an optional segment.
    """
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("The job has no command. Give one such as command='python train.py'.")

    def segment(match: re.Match[str]) -> str:
        inner = match.group(1)
        used = [_lookup(m, values) for m in PLACEHOLDER.finditer(inner)]
        return "" if any(v is None for v in used) else inner

    kept = _OPTIONAL.sub(segment, command)
    out: list[str] = []
    state = ""  # "" outside quotes, or the quote we are in: ', ", or $' (ANSI-C)
    i = 0
    while i < len(kept):
        char = kept[i]
        if char == "$":
            match = PLACEHOLDER.match(kept, i)
            if match:
                value = _lookup(match, values)
                if value is None:
                    raise InvalidInput(
                        f"The command uses {match.group(0)} outside an optional segment, but that value was "
                        f"left out. Give it, or write the part that needs it as $[[... {match.group(0)} ...]].")
                out.append(_quoted(value, state))
                i = match.end()
                continue
        if char == "\\" and state != "'" and i + 1 < len(kept):
            out.append(kept[i:i + 2])  # an escaped character (an escaped quote does not open or close one)
            i += 2
            continue
        if state == "":
            if char == "'":
                state = "'"
            elif char == '"':
                state = '"'
            elif char == "$" and kept.startswith("$'", i):
                state = "$'"
                out.append("$'")
                i += 2
                continue
        elif (state == "'" and char == "'") or (state == '"' and char == '"') or (state == "$'" and char == "'"):
            state = ""
        out.append(char)
        i += 1
    if state:
        raise InvalidInput(f"The command {command!r} has an unclosed {state[-1]} quote.")
    return "".join(out)


def _lookup(match: re.Match[str], values: Values) -> str | None:
    kind, name = match.group(1), match.group(2)
    if kind not in values:
        known = ", ".join("${{" + k + ".NAME}}" for k in values) or "none here"
        raise InvalidInput(f"The command uses {match.group(0)}, but {kind!r} values are not known to this job "
                           f"(it knows {known}).")
    if name not in values[kind]:
        singular = kind[:-1] if kind.endswith("s") else kind
        raise InvalidInput(f"The command uses {match.group(0)} but the job has no {singular} {name!r}. "
                           f"Its {kind}: {', '.join(sorted(values[kind])) or 'none'}.")
    return values[kind][name]


def _quoted(value: str, state: str) -> str:
    if state == "":
        return shlex.quote(value)
    if state == '"':
        return re.sub(r'([\\"$`])', r"\\\1", value)
    if state == "'":
        return value.replace("'", "'\\''")
    return value.replace("\\", "\\\\").replace("'", "\\'")  # inside $'...'


def program(line: str) -> list[str] | None:
    """The words of ``line`` when it is one plain command the shell would run as they are; else None.

    Plain: no operators, redirections, expansions or globs, so ``python -m pkg --x 'a b'``
    is ``['python', '-m', 'pkg', '--x', 'a b']``. Used to start a warm process without a shell.
    """
    if re.search(r"[\n;&|<>()`$*?\[\]{}~#!]", line):
        return None
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    return words or None


def shell_argv(line: str, python: str) -> list[str]:
    """The argv that runs ``line`` in the shell, with ``python``'s folder first on PATH.

    ``python`` is passed as the shell's ``$1`` (not written into the line), so a compute
    node can swap in its own interpreter by replacing that one word.
    """
    return [SHELL, "-c", _PREAMBLE + line, "studio-job", python]
