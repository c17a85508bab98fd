"""Plain output to a file or a pipe carries no terminal escape sequences or control characters (pure)."""

from __future__ import annotations

import io

import pytest

from devloop.engine.sink import PlainSink, plain_text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("\x1b[1;31mred\x1b[0m text", "red text"),
        ("downloading 10%\rdownloading 100%", "downloading 100%"),
        ("windows line\r", "windows line"),
        ("\x1b]0;window title\x07shown", "shown"),
        ("\x1b]8;;http://example.com\x1b\\a link\x1b]8;;\x1b\\", "a link"),
        ("clears the screen\x1b[2J\x1b[H", "clears the screen"),
        ("a bell\x07 and a backspace\x08", "a bell and a backspace"),
        ("tabs\tstay", "tabs\tstay"),
        ("unicode │ stays ✓", "unicode │ stays ✓"),
    ],
)
def test_plain_text(text: str, plain: str) -> None:
    assert plain_text(text) == plain


def test_plain_sink_cleans_lines_for_a_pipe_and_keeps_them_for_a_terminal() -> None:
    pipe, terminal = io.StringIO(), Terminal()
    for stream in (pipe, terminal):
        sink = PlainSink(stream)
        sink.log("web", "\x1b[32mGET / 200\x1b[0m")
        sink.message("\x1b[2Jdone")
    assert pipe.getvalue() == "web │ GET / 200\ndevloop │ done\n"
    assert terminal.getvalue() == "web │ \x1b[32mGET / 200\x1b[0m\ndevloop │ \x1b[2Jdone\n"
