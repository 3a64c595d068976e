"""Synthetic query generation: backends behind one contract (`QueryGenerator`)."""

from embedtune.generation.base import GeneratedQuery, QueryGenerator, make_generator

__all__ = ["GeneratedQuery", "QueryGenerator", "make_generator"]
