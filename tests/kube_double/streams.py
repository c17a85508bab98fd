"""Streams: ``pods/log`` (follow, tailLines, sinceSeconds, timestamps, previous), and the websocket endpoints
``pods/exec`` and ``pods/portforward`` with the Kubernetes channel protocol, framing written by hand.

Exec speaks ``v5.channel.k8s.io`` (preferred; channel 255 closes a channel, so stdin can reach EOF) or
``v4.channel.k8s.io``: channel 0 stdin, 1 stdout, 2 stderr, 3 the final Status as JSON (``Success``, or
``Failure``/``NonZeroExitCode`` with the exit code in ``details.causes[0].message``; a command that cannot be
started answers ``InternalError`` as a real cluster does). Port forwarding speaks ``v4.channel.k8s.io`` (or
``portforward.k8s.io``): for the n-th port, channel 2n carries data and 2n+1 errors, each opened by a frame
holding the port number (2 bytes, little endian); the double connects to the pod IP on its Docker network.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Any

from tests.kube_double.store import BY_KIND, ApiError, Obj

if TYPE_CHECKING:
    from tests.kube_double.kubelet import CState, PodWorker
    from tests.kube_double.server import Handler, KubeDouble

PODS = BY_KIND["Pod"]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
PORTFORWARD_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")


def _first(query: dict[str, list[str]], key: str, default: str = "") -> str:
    values = query.get(key)
    return values[0] if values else default


def _flag(query: dict[str, list[str]], key: str) -> bool:
    return _first(query, key).lower() in ("true", "1")


# --- finding containers -------------------------------------------------------------------------------


def pick_container(double: KubeDouble, namespace: str, name: str, container: str) -> tuple[Obj, PodWorker, CState]:
    pod = double.store.get(PODS, namespace, name)
    spec = pod.get("spec") or {}
    names = [str(c["name"]) for c in spec.get("containers") or []]
    init_names = [str(c["name"]) for c in spec.get("initContainers") or []]
    if not container:
        if len(names) != 1:
            raise ApiError(
                400,
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(names)}] or one of the init containers: [{' '.join(init_names)}]",
            )
        container = names[0]
    if container not in names and container not in init_names:
        raise ApiError(400, f"container {container} is not valid for pod {name}")
    worker = double.kubelet.worker(namespace, name)
    if worker is None:
        raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
    state = next(c for c in [*worker.inits, *worker.apps] if c.name == container)
    return pod, worker, state


def waiting_error(c: CState, pod: str) -> ApiError:
    reason = (c.state.get("waiting") or {}).get("reason", "ContainerCreating")
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        return ApiError(
            400, f'container "{c.name}" in pod "{pod}" is waiting to start: trying and failing to pull image'
        )
    return ApiError(400, f'container "{c.name}" in pod "{pod}" is waiting to start: {reason}')


# --- logs ---------------------------------------------------------------------------------------------


def serve_log(h: Handler, double: KubeDouble, namespace: str, name: str, query: dict[str, list[str]]) -> None:
    _, worker, c = pick_container(double, namespace, name, _first(query, "container"))
    previous = _flag(query, "previous")
    cid = c.previous if previous else c.cid
    if previous and not cid:
        raise ApiError(400, f'previous terminated container "{c.name}" in pod "{name}" not found')
    if not cid:
        raise waiting_error(c, name)
    follow = _flag(query, "follow")
    kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": _flag(query, "timestamps")}
    if _first(query, "tailLines"):
        kwargs["tail"] = max(0, int(_first(query, "tailLines")))
    if _first(query, "sinceSeconds"):
        kwargs["since"] = int(time.time() - int(_first(query, "sinceSeconds")))
    elif _first(query, "sinceTime"):
        import datetime

        text = _first(query, "sinceTime").replace("Z", "+00:00")
        kwargs["since"] = int(datetime.datetime.fromisoformat(text).timestamp())
    limit = int(_first(query, "limitBytes", "0") or 0)
    api = worker.api
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    sent = 0

    def chunk(data: bytes) -> None:
        if data:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()

    try:
        if follow and not previous:
            stream = api.logs(cid, stream=True, follow=True, **kwargs)
            stopper = threading.Thread(target=_close_on_hangup, args=(h, stream), daemon=True)
            stopper.start()
            try:
                for data in stream:
                    if limit:
                        data = data[: max(0, limit - sent)]
                    chunk(data)
                    sent += len(data)
                    if limit and sent >= limit:
                        break
            finally:
                with contextlib.suppress(Exception):
                    stream.close()
        else:
            data = api.logs(cid, stream=False, follow=False, **kwargs)
            chunk(data[:limit] if limit else data)
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, OSError):
        h.close_connection = True


def _close_on_hangup(h: Handler, stream: Any) -> None:
    """Close a following docker log stream when the client goes away (else it would wait for the next line)."""
    while True:
        time.sleep(0.5)
        if getattr(stream, "_closed", False):
            return
        if h.connection_closed():
            with contextlib.suppress(Exception):
                stream.close()
            return


# --- websocket ----------------------------------------------------------------------------------------


class WebSocket:
    """Server side of RFC 6455 over the handler's connection: binary frames, fragmentation, ping, close."""

    def __init__(self, h: Handler) -> None:
        self.h = h
        self.sock: socket.socket = h.connection
        self.rfile = h.rfile
        self.send_lock = threading.Lock()
        self.closed = False

    @staticmethod
    def handshake(h: Handler, supported: tuple[str, ...]) -> tuple[WebSocket, str]:
        if (h.headers.get("Upgrade") or "").lower() != "websocket":
            raise ApiError(400, "Upgrade request required")
        key = h.headers.get("Sec-WebSocket-Key") or ""
        offered = [p.strip() for p in (h.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        chosen = next((p for p in offered if p in supported), "")
        if offered and not chosen:
            raise ApiError(
                400, f"none of the websocket subprotocols {offered} is supported; use one of {list(supported)}"
            )
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        h.send_response(101, "Switching Protocols")
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept)
        if chosen:
            h.send_header("Sec-WebSocket-Protocol", chosen)
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        return WebSocket(h), chosen

    def send(self, payload: bytes, opcode: int = 2) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + struct.pack(">H", n)
        else:
            header += bytes([127]) + struct.pack(">Q", n)
        with self.send_lock:
            if self.closed and opcode != 8:
                raise BrokenPipeError("websocket closed")
            self.sock.sendall(header + payload)

    def channel(self, ch: int, data: bytes) -> None:
        self.send(bytes([ch]) + data)

    def _read(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise EOFError("connection closed")
        return data

    def recv(self) -> bytes | None:
        """The next data message (None on close)."""
        message = b""
        while True:
            b1, b2 = self._read(2)
            opcode = b1 & 0x0F
            fin = b1 & 0x80
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b2 & 0x80 else b""
            payload = self._read(n) if n else b""
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 64 else _unmask(payload, mask)
            if opcode == 8:  # close
                with contextlib.suppress(OSError):
                    self.close(payload[:2] if len(payload) >= 2 else b"")
                return None
            if opcode == 9:  # ping
                with contextlib.suppress(OSError):
                    self.send(payload, 10)
                continue
            if opcode == 10:
                continue
            message += payload
            if fin:
                return message

    def close(self, code: bytes = b"\x03\xe8") -> None:
        with self.send_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.sendall(bytes([0x88, len(code)]) + code)

    def shutdown(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


# --- exec ---------------------------------------------------------------------------------------------


def status_success() -> bytes:
    return json.dumps({"metadata": {}, "status": "Success"}).encode()


def status_exit(code: int, argv: list[str]) -> bytes:
    return json.dumps(
        {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    ).encode()


def status_internal(message: str) -> bytes:
    return json.dumps(
        {
            "metadata": {},
            "status": "Failure",
            "message": f"Internal error occurred: {message}",
            "reason": "InternalError",
            "details": {"causes": [{"message": message}]},
            "code": 500,
        }
    ).encode()


def serve_exec(h: Handler, double: KubeDouble, namespace: str, name: str, query: dict[str, list[str]]) -> None:
    argv = query.get("command") or []
    if not argv:
        raise ApiError(400, "you must specify at least 1 command")
    _, worker, c = pick_container(double, namespace, name, _first(query, "container"))
    if "running" not in c.state or not c.cid:
        raise ApiError(400, f'unable to upgrade connection: container not found ("{c.name}")')
    want_stdin = _flag(query, "stdin")
    want_out = _flag(query, "stdout") or not any(k in query for k in ("stdout", "stderr"))
    want_err = _flag(query, "stderr")
    tty = _flag(query, "tty")
    api = worker.api
    ws, proto = WebSocket.handshake(h, EXEC_PROTOCOLS)
    v5 = proto == "v5.channel.k8s.io"
    try:
        exec_id = api.exec_create(c.cid, argv, stdin=want_stdin, stdout=True, stderr=True, tty=tty)["Id"]
        raw = api.exec_start(exec_id, socket=True, tty=tty)
        sock: socket.socket = getattr(raw, "_sock", raw)
    except Exception as exc:
        with contextlib.suppress(OSError):
            ws.channel(3, status_internal(f"error executing command in container: {exc}"))
        ws.shutdown()
        return

    done = threading.Event()

    def pump_stdin() -> None:
        try:
            while not done.is_set():
                msg = ws.recv()
                if msg is None:
                    break
                if not msg:
                    continue
                ch, data = msg[0], msg[1:]
                if ch == 0 and want_stdin and data:
                    sock.sendall(data)
                elif ch == 255 and v5 and data[:1] == b"\x00":
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                elif ch == 4 and tty:
                    with contextlib.suppress(Exception):
                        size = json.loads(data)
                        api.exec_resize(exec_id, height=size.get("Height"), width=size.get("Width"))
        except (EOFError, OSError):
            pass
        finally:
            if not done.is_set() and want_stdin:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)

    reader = threading.Thread(target=pump_stdin, name="kube-double-exec-stdin", daemon=True)
    reader.start()
    output = b""
    try:
        if tty:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                output += data[-4096:]
                if want_out:
                    ws.channel(1, data)
        else:
            buf = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 8:
                    stream, size = buf[0], struct.unpack(">I", buf[4:8])[0]
                    if len(buf) < 8 + size:
                        break
                    payload, buf = buf[8 : 8 + size], buf[8 + size :]
                    output = (output + payload)[-4096:]
                    if stream == 1 and want_out:
                        ws.channel(1, payload)
                    elif stream == 2 and want_err:
                        ws.channel(2, payload)
        code = None
        for _ in range(100):
            info = api.exec_inspect(exec_id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                break
            time.sleep(0.02)
        code = int(code if code is not None else 1)
        text = output.decode(errors="replace")
        if code in (126, 127) and ("OCI runtime exec failed" in text or "executable file not found" in text):
            ws.channel(
                3,
                status_internal(
                    f"error executing command in container: failed to exec in container: "
                    f"failed to start exec: {text.strip()}"
                ),
            )
        elif code == 0:
            ws.channel(3, status_success())
        else:
            ws.channel(3, status_exit(code, argv))
    except (OSError, BrokenPipeError):
        pass
    finally:
        done.set()
        with contextlib.suppress(OSError):
            sock.close()
        with contextlib.suppress(Exception):
            raw.close()
        ws.shutdown()
        reader.join(timeout=2)


# --- port forward -------------------------------------------------------------------------------------


def serve_portforward(h: Handler, double: KubeDouble, namespace: str, name: str, query: dict[str, list[str]]) -> None:
    ports: list[int] = []
    for value in query.get("ports") or []:
        for part in value.split(","):
            if part.strip():
                try:
                    ports.append(int(part))
                except ValueError as exc:
                    raise ApiError(400, f"invalid port {part!r}") from exc
    if not ports:
        raise ApiError(400, 'query parameter "port" is required')
    pod = double.store.get(PODS, namespace, name)
    worker = double.kubelet.worker(namespace, name)
    phase = (pod.get("status") or {}).get("phase")
    if worker is None or not worker.ip or phase != "Running":
        raise ApiError(400, f"unable to upgrade connection: pod {name} is not running (phase {phase})")
    ws, _ = WebSocket.handshake(h, PORTFORWARD_PROTOCOLS)
    conns: dict[int, socket.socket] = {}
    threads: list[threading.Thread] = []
    alive = {"n": 0}
    lock = threading.Lock()
    try:
        for i, port in enumerate(ports):
            head = struct.pack("<H", port)
            ws.channel(2 * i, head)
            ws.channel(2 * i + 1, head)
            try:
                conns[i] = socket.create_connection((worker.ip, port), timeout=5)
                conns[i].settimeout(None)
            except OSError as exc:
                ws.channel(
                    2 * i + 1,
                    (
                        f"error forwarding port {port} to pod {name}, uid {worker.uid}: failed to connect to "
                        f"{worker.ip}:{port}: {exc}"
                    ).encode(),
                )
                continue

            def pump(idx: int, conn: socket.socket) -> None:
                try:
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            break
                        ws.channel(2 * idx, data)
                except OSError:
                    pass
                finally:
                    with lock:
                        alive["n"] -= 1
                        last = alive["n"] == 0
                    if last:
                        ws.shutdown()

            with lock:
                alive["n"] += 1
            t = threading.Thread(target=pump, args=(i, conns[i]), name="kube-double-portforward", daemon=True)
            threads.append(t)
            t.start()
        if not conns:
            ws.shutdown()
            return
        while True:
            msg = ws.recv()
            if msg is None:
                break
            if not msg:
                continue
            ch, data = msg[0], msg[1:]
            idx = ch // 2
            if ch % 2 == 0 and idx in conns and data:
                try:
                    conns[idx].sendall(data)
                except OSError:
                    break
    except (EOFError, OSError):
        pass
    finally:
        for conn in conns.values():
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        ws.shutdown()
        for t in threads:
            t.join(timeout=2)
