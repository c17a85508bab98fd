"""The port forwards a target has open: each handle the engine gets removes itself when closed, and the
target closes whatever is left at teardown. Shared by the docker and kubernetes targets."""

from __future__ import annotations

import threading
from typing import Protocol


class Forward(Protocol):
    local: int

    def close(self) -> None: ...


class ForwardHandle:
    """What ``Target.port_forward`` returns: closing it stops the forward and forgets it."""

    def __init__(self, forward: Forward, owner: OpenForwards) -> None:
        self._forward = forward
        self._owner = owner
        self.local = forward.local

    def close(self) -> None:
        self._forward.close()
        self._owner.forget(self._forward)


class OpenForwards:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[Forward] = []

    def add(self, forward: Forward) -> ForwardHandle:
        with self._lock:
            self._open.append(forward)
        return ForwardHandle(forward, self)

    def forget(self, forward: Forward) -> None:
        with self._lock:
            if forward in self._open:
                self._open.remove(forward)

    def close_all(self) -> None:
        with self._lock:
            forwards, self._open = self._open, []
        for forward in forwards:
            forward.close()
