"""The library's messages in the command line's words.

The library's errors and warnings name what a Python caller gives in backticks, written as the
arguments of a call: `run_dir`, `resume=True`, `resume=True, resume_from="best"`, `batch_size=64`.
`in_flags` turns each such span into the options of the running command (--out, --resume,
--resume --resume-from best, --batch-size 64), read from its click parameters, so that each fact
stays stated once: the option's own declaration. `OPTION_OF` is the one table, of the arguments
the command line names otherwise. A span that does not parse as a call's arguments, or that names
an argument the command does not have, stays as it is: a quoted command line (`eqx-resnet bench
--json`), or a setting of another command.
"""

import ast
import json
import re
import shlex

try:
    from typer._click.globals import get_current_context  # typer 0.2x vendors click
except ImportError:
    from click import get_current_context

# The library's arguments that the command line names otherwise.
OPTION_OF = {"run_dir": "out", "model_options": "model_option"}


def in_flags(message: str, params: list) -> str:
    """`message` in the words of the command of the click parameters `params`: each span of arguments in backticks becomes their
    options, as the module's docstring says."""
    by_name = {p.name: p for p in params}
    return re.sub(r"`([^`\n]+)`", lambda m: _flags(m[1], by_name) or m[0], message)


def in_command_words(message: str) -> str:
    """`message` in the words of the command running now (`in_flags`); as it is outside a command."""
    ctx = get_current_context(silent=True)
    return message if ctx is None else in_flags(message, ctx.command.params)


def _flags(text: str, params: dict) -> str | None:
    """The options of the arguments `text` names, bare or with a Python value; `None` if it names anything else."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        named = [(a.id, False, None) for a in call.args]
        named += [(k.arg, True, ast.literal_eval(k.value)) for k in call.keywords]
    except (SyntaxError, ValueError, AttributeError, TypeError):
        return None
    words = [_flag(params.get(OPTION_OF.get(name, name)), given, value) for name, given, value in named]
    return None if not words or None in words else " ".join(words)


def _flag(param, given: bool, value) -> str | None:
    """How the command line says the click parameter `param` (with `value` if `given`): --resume, --no-augment,
    -o k=v, mnist as DATASET; `None` if there is no such parameter."""
    kind = getattr(param, "param_type_name", None)
    if kind == "argument":
        name = (param.metavar or param.name).upper()  # as the usage line shows it
        return f"{shlex.quote(str(value))} as {name}" if given else name
    if kind != "option":
        return None
    option = max(param.opts, key=len)  # --model-option, not -o
    if not given or value is True:
        return option
    if value is False:
        return param.secondary_opts[0] if param.secondary_opts else None
    if isinstance(value, dict):
        return " ".join(f"{option} {k}={json.dumps(v, separators=(',', ':'))}" for k, v in value.items())
    return f"{option} {shlex.quote(str(value))}"
