"""Exercises with automatic checkers: ``exercises.ch00.best_so_far.check(my_function)``."""

from . import ch00, ch01, ch02, ch03, ch04, ch05, ch06
from .core import Case, CheckResult, Exercise

__all__ = ["Case", "CheckResult", "Exercise", "ch00", "ch01", "ch02", "ch03", "ch04", "ch05", "ch06"]
