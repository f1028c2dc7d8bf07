"""MkDocs hook: the command line page gets each command's `--help`, generated at build time."""

MARKER = "<!-- eqx-resnet help -->"


def on_page_markdown(markdown: str, **kwargs) -> str:
    if MARKER not in markdown:
        return markdown
    import typer
    from typer.testing import CliRunner

    from eqx_resnet.cli import app

    runner = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    sections = []
    for name in [None, *typer.main.get_command(app).commands]:
        result = runner.invoke(app, [name, "--help"] if name else ["--help"])
        if result.exit_code != 0:
            raise RuntimeError(f"eqx-resnet {name or ''} --help failed: {result.output}")
        title = f"eqx-resnet {name}" if name else "eqx-resnet"
        sections.append(f"## `{title}`\n\n```text\n{result.output.rstrip()}\n```\n")
    return markdown.replace(MARKER, "\n".join(sections))
