"""Show the few lines of a library function that carry an idea, read from the source as it is now.

Chapters 03 and 04 print the library's code next to the equations. A whole function shows every method's branches
at once; an excerpt shows the lines that matter, with their line numbers in the module, so a learner can open
the file at that place. The lines are found by *markers*: a span starts at the first line of the function that
contains its start text and ends at the first line from there that contains its end text. The excerpt is read
from the source each time, so it cannot drift from the code; if the code changes so that a marker is gone, the
excerpt raises an error that names the function and the marker (the notebook then fails, not silently shows
something else).

    show_excerpt(mixing.gumbel_weights, ("uniform =", "return hard"))
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

__all__ = ["ExcerptError", "excerpt", "show_excerpt"]


class ExcerptError(LookupError):
    """A marker was not found in the function's source: the code changed and the excerpt must follow."""


def _name(obj: Callable) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _span(lines: list[str], start: str, end: str, obj: Callable, after: int) -> tuple[int, int]:
    """Indices (first, last) of the span, searched from line index ``after`` on."""
    first = next((i for i in range(after, len(lines)) if start in lines[i]), None)
    if first is None:
        raise ExcerptError(f"{_name(obj)} has no line containing {start!r} (after line {after + 1} of the function); "
                           "the library changed: update the excerpt's markers.")
    last = next((i for i in range(first, len(lines)) if end in lines[i]), None)
    if last is None:
        raise ExcerptError(f"{_name(obj)} has no line containing {end!r} after {start!r}; the library changed: "
                           "update the excerpt's markers.")
    return first, last


def excerpt(obj: Callable, *spans: str | tuple[str, str]) -> str:
    """The lines of ``obj``'s source that ``spans`` select, numbered as in its file, spans in order and separated
    by ``...``. A span is ``(start, end)`` marker texts, or one text for a single line; spans are searched one
    after the other (each from the line after the previous span), and with no span the whole function is shown."""
    try:
        lines, offset = inspect.getsourcelines(obj)
    except (OSError, TypeError) as error:
        raise ExcerptError(f"No source for {obj!r}: pass a function, method or class of the library.") from error
    if not spans:
        chosen = [(0, len(lines) - 1)]
    else:
        chosen, after = [], 0
        for span in spans:
            if not (isinstance(span, str) or (isinstance(span, tuple) and len(span) == 2)):
                raise TypeError(f"A span is a marker text or a (start, end) pair of texts, got {span!r}.")
            start, end = (span, span) if isinstance(span, str) else span
            first, last = _span(lines, start, end, obj, after)
            chosen.append((first, last))
            after = last + 1
    width = len(str(offset + len(lines)))
    indent = min(len(line) - len(line.lstrip()) for first, last in chosen for line in lines[first: last + 1]
                 if line.strip())
    try:
        where = Path(inspect.getsourcefile(obj) or "").resolve().relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        where = Path(inspect.getsourcefile(obj) or "?")
    out = [f"# {_name(obj)}  ({where.as_posix()})"]
    for index, (first, last) in enumerate(chosen):
        if index and first > chosen[index - 1][1] + 1:
            out.append(f"{'':>{width}}   ...")
        for number in range(first, last + 1):
            text = lines[number].rstrip("\n")
            out.append(f"{offset + number:>{width}} | {text[indent:] if text.strip() else ''}".rstrip())
    return "\n".join(out)


def show_excerpt(obj: Callable, *spans: str | tuple[str, str]) -> None:
    """Print ``excerpt(obj, *spans)`` followed by a blank line."""
    print(excerpt(obj, *spans) + "\n")

