"""Chapters 03 and 04 print excerpts of the library, read from its source: the lines between markers, numbered as in the file,
and a clear error when a marker is gone (the code changed), so an excerpt cannot drift from the code it shows."""

import inspect

import pytest

from nascourse.relaxation import mixing
from nascourse.relaxation.bilevel import second_order_gradient
from nascourse.excerpts import ExcerptError, excerpt


def test_an_excerpt_is_the_marked_lines_numbered_as_in_the_file():
    lines, first = inspect.getsourcelines(mixing.gumbel_weights)
    text = excerpt(mixing.gumbel_weights, ("uniform =", "return hard"))
    body = text.splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if "uniform =" in line)
    assert body[0].startswith(f"{first + start} | uniform = torch.rand(")
    assert body[-1].endswith("return hard - soft.detach() + soft")
    assert len(body) == 6  # uniform, gumbel, logits, soft, hard, return
    assert "mixing.gumbel_weights" in text.splitlines()[0] and "nascourse/relaxation/mixing.py" in text.splitlines()[0]


def test_spans_follow_each_other_and_a_gap_is_marked():
    text = excerpt(second_order_gradient, ("# the virtual step", "minus ="), "return [")
    assert "   ..." in text  # the restoring lines between the two spans are left out
    assert text.splitlines()[-1].endswith("for g, p, m in zip(alpha_grads, plus, minus)]")


def test_without_spans_the_whole_function_is_shown():
    text = excerpt(mixing.darts_weights)
    assert "def darts_weights" in text and "return F.softmax(alpha, dim=-1)" in text


def test_a_missing_marker_is_a_clear_error_naming_the_function():
    with pytest.raises(ExcerptError, match="gumbel_weights.*no line containing 'not in the code'"):
        excerpt(mixing.gumbel_weights, "not in the code")
    with pytest.raises(ExcerptError, match="after 'uniform ='"):
        excerpt(mixing.gumbel_weights, ("uniform =", "not in the code"))
    with pytest.raises(TypeError, match="span"):
        excerpt(mixing.gumbel_weights, ("a", "b", "c"))
