"""Helpers for the one-line messages errors are reported in."""


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message, or its type's name when it has none."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
