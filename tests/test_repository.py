"""The repository's files speak of the project: no word of how it was built (work items by number,
borrowed machines and their time, paths outside the repository), which means nothing to a reader
of a clone. Each legitimate use of such a word is allowed below with its reason."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "a work item by number": r"\bissues? ?#?\d+|\bthe issue\b|(?:^|[^\w/.-])#\d+\b",
    "a lent or borrowed machine": r"\blent\b|\bborrow|\bdevice time\b|\btool call|\bbudget_left",
    "the instructions the work followed": r"\bthe brief\b|\bthe lead\b",
}
# (file, a pattern of the allowed line, why it may stay)
ALLOWED = [
    (r"tests/test_repository\.py", r".", "the words this test looks for"),
]


# Where git is missing, the files of the tree but for what .gitignore names and git's own.
UNTRACKED = {".git", ".venv", "runs", "build", "site", "__pycache__", ".pytest_cache", ".benchmarks", ".whl"}


def tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        paths = [ROOT / name for name in listed.stdout.split("\0") if name] if listed.returncode == 0 else None
    except OSError:
        paths = None
    if paths is None:
        paths = [
            p
            for p in ROOT.rglob("*")
            if not any(part in UNTRACKED or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)
        ]
    return [p for p in paths if p.is_file() and b"\0" not in p.read_bytes()[:8192]]


def test_no_tracked_file_says_how_the_repository_was_built():
    hits = []
    for path in tracked_text_files():
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if re.search(pattern, line, re.IGNORECASE) and not any(
                    re.fullmatch(file, name) and re.search(allowed, line) for file, allowed, _ in ALLOWED
                ):
                    hits.append(f"{name}:{number}: {what}: {line.strip()[:100]}")
    assert hits == []


PARENT_PATH = re.compile(r"(?:\.\./)+[\w-][\w.-]*")


def escapes(file: Path, line: str) -> list[str]:
    """The relative paths in `line` that climb out of the repository, from `file`'s folder and from the root."""
    return [
        m.group()
        for m in PARENT_PATH.finditer(line)
        if not any((base / m.group()).resolve().is_relative_to(ROOT) for base in (file.parent, ROOT))
    ]


def test_no_tracked_file_points_outside_the_repository():
    hits = [
        f"{path.relative_to(ROOT).as_posix()}:{number}: {escaped}"
        for path in tracked_text_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        for escaped in escapes(path, line)
    ]
    assert hits == []


def test_the_checks_catch_what_they_are_for():
    assert escapes(ROOT / "README.md", "see ../elsewhere/notes.md") == ["../elsewhere"]
    assert escapes(ROOT / "docs" / "index.md", "[readme](../README.md)") == []
    for fine in ["jax-ml/jax#16602", "torch.library.define", "# 1 step", "issues of timm"]:
        assert not any(re.search(p, fine, re.IGNORECASE) for p in FORBIDDEN.values()), fine
