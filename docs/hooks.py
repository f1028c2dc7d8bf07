"""MkDocs hook: pages get what the code states, generated at build time.

- `<!-- eqx-resnet help -->`: each command's `--help` (the command line page);
- `<!-- eqx-resnet models -->`, `<!-- eqx-resnet weights -->`: the tables of `eqx-resnet models
  --markdown` and `eqx-resnet models --weights --markdown`, read from each architecture's
  description (the models page).
"""

HELP = "<!-- eqx-resnet help -->"
TABLES = {
    "<!-- eqx-resnet models -->": ["models", "--markdown"],
    "<!-- eqx-resnet weights -->": ["models", "--weights", "--markdown"],
}


def _run(args: list[str]) -> str:
    from typer.testing import CliRunner

    from eqx_resnet.cli import app

    result = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}).invoke(app, args)
    if result.exit_code != 0:
        raise RuntimeError(f"eqx-resnet {' '.join(args)} failed: {result.output}")
    return result.output.rstrip()


def on_page_markdown(markdown: str, **kwargs) -> str:
    for marker, args in TABLES.items():
        if marker in markdown:
            markdown = markdown.replace(marker, _run(args))
    if HELP not in markdown:
        return markdown
    import typer

    from eqx_resnet.cli import app

    sections = []
    for name in [None, *typer.main.get_command(app).commands]:
        title = f"eqx-resnet {name}" if name else "eqx-resnet"
        help_text = _run([name, "--help"] if name else ["--help"])
        sections.append(f"## `{title}`\n\n```text\n{help_text}\n```\n")
    return markdown.replace(HELP, "\n".join(sections))
