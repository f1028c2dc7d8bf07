"""Compiler hints for XLA:CPU (placeholder docstring, rewritten in the next commit)."""

from .channel_sums import channel_broadcast, channel_sum
from .materialize import materialize
from .options import compiler_options

__all__ = ["channel_broadcast", "channel_sum", "compiler_options", "materialize"]
