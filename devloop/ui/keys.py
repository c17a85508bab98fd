"""Reading single key presses from a terminal without blocking anyone.

:func:`parse_keys` turns raw input into key names (pure, tested on its own); :class:`KeyReader` puts a
terminal into cbreak mode (no echo, no line buffering, Ctrl-C still interrupts) and restores it on
:meth:`KeyReader.close`, and reads with ``select()`` and a short timeout so a caller can stop promptly.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
from typing import Any

#: escape sequences of the keys the dashboard knows (normal and application cursor mode)
SEQUENCES: dict[str, str] = {
    "\x1b[A": "up",
    "\x1b[B": "down",
    "\x1b[C": "right",
    "\x1b[D": "left",
    "\x1bOA": "up",
    "\x1bOB": "down",
    "\x1bOC": "right",
    "\x1bOD": "left",
    "\x1b[5~": "pageup",
    "\x1b[6~": "pagedown",
    "\x1b[H": "home",
    "\x1b[F": "end",
    "\x1bOH": "home",
    "\x1bOF": "end",
    "\x1b[1~": "home",
    "\x1b[4~": "end",
}
SINGLE: dict[str, str] = {"\r": "enter", "\n": "enter", "\x1b": "escape", "\x7f": "backspace", "\t": "tab"}


def parse_keys(data: str, *, final: bool = False) -> tuple[list[str], str]:
    """Split ``data`` into key names; returns them and an unfinished escape sequence to keep for the next read.

    ``final``: nothing more is coming (the read timed out), so a lone ESC is the escape key. Unknown
    escape sequences are skipped whole; printable characters are their own names ("j", "q", "T").
    """
    keys: list[str] = []
    i = 0
    while i < len(data):
        ch = data[i]
        if ch != "\x1b":
            if ch == "\r" and data[i + 1 : i + 2] == "\n":
                i += 1  # CR LF is one enter
            keys.append(SINGLE.get(ch, ch))
            i += 1
            continue
        rest = data[i:]
        if len(rest) == 1:
            if final:
                keys.append("escape")
                return keys, ""
            return keys, rest
        if rest[1] not in "[O":  # ESC followed by a plain key (Alt+key): the key
            i += 1
            continue
        # CSI / SS3: parameters 0x30-0x3f, intermediates 0x20-0x2f, then one final byte 0x40-0x7e
        j = 2
        if rest[1] == "[":
            while j < len(rest) and 0x20 <= ord(rest[j]) <= 0x3F:
                j += 1
        if j >= len(rest):
            if final:
                return keys, ""  # a broken sequence: drop it
            return keys, rest
        seq = rest[: j + 1]
        name = SEQUENCES.get(seq)
        if name is not None:
            keys.append(name)
        i += j + 1
    return keys, ""


class KeyReader:
    """Key presses from a file descriptor; puts a terminal into cbreak mode until :meth:`close`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.is_terminal = os.isatty(fd)

    def open(self) -> None:
        """cbreak mode on a terminal (no echo, keys arrive one by one; signals such as Ctrl-C still work)."""
        if not self.is_terminal or self._saved is not None:
            return
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        try:
            tty.setcbreak(self.fd, termios.TCSANOW)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Restore the terminal as it was; safe to call more than once."""
        if self._saved is None:
            return
        import termios

        saved, self._saved = self._saved, None
        with contextlib.suppress(termios.error):  # the terminal may have gone away
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)

    def read(self, timeout: float) -> list[str] | None:
        """The keys pressed within ``timeout`` seconds ([] when none); None at end of input."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            if self._pending:  # an ESC with nothing after it: the escape key
                keys, self._pending = parse_keys(self._pending, final=True)
                return keys
            return []
        try:
            chunk = os.read(self.fd, 1024)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            return None
        if not chunk:
            return None
        keys, self._pending = parse_keys(self._pending + self._decoder.decode(chunk))
        if self._pending:  # an unfinished sequence: give the rest a moment to arrive
            more, _, _ = select.select([self.fd], [], [], 0.05)
            if not more:
                tail, self._pending = parse_keys(self._pending, final=True)
                keys += tail
        return keys

    def __enter__(self) -> KeyReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
