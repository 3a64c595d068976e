"""The error chain is walked once per link, outermost first; a description is one short line."""

from embedtune.util.errors import describe_error, error_chain


def test_the_chain_follows_causes_then_contexts_and_stops_on_a_loop():
    root = ValueError("root")
    try:
        try:
            raise root
        except ValueError:
            raise KeyError("context")  # an implicit __context__ is what we walk
    except KeyError as error:
        outer = RuntimeError("outer")
        outer.__cause__ = error
    assert [type(link) for link in error_chain(outer)] == [RuntimeError, KeyError, ValueError]
    root.__context__ = outer  # a loop
    assert len(list(error_chain(outer))) == 3


def test_a_description_names_the_class_the_status_and_a_short_message():
    error = RuntimeError("bad\n   key " + "x" * 500)
    error.status_code = 401
    line = describe_error(error)
    assert line.startswith("RuntimeError HTTP 401: bad key ") and "\n" not in line and len(line) < 240
