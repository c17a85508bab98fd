"""The control endpoint of a running `up` and `devloop status|logs|trigger`: real unix sockets, an engine
driven by the fake target (tests/test_engine.py's helpers), and the real CLI process for the commands."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devloop.control.client import ControlClient, client_for
from devloop.control.paths import candidate_dirs, find_endpoint, server_endpoint
from devloop.control.protocol import NoRunningUpError, RemoteError, UpAlreadyRunningError, decode, encode
from devloop.control.server import ControlServer, serve_control
from devloop.engine.logstore import LogSink, LogStore
from devloop.engine.state import ResourceView, Snapshot, Status, UpdateRecord
from devloop.targets.fake import FakeTarget
from tests.support import docker_env
from tests.test_engine import FakeBuilder, ThreadRunner, engine_for, make_project

REPO = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A short private XDG_RUNTIME_DIR (pytest's tmp_path can be too long for a socket path)."""
    path = Path(tempfile.mkdtemp(prefix="dlctl-"))
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Stub:
    """A snapshot and log store the tests change by hand, and the triggers received."""

    views: list[ResourceView] = field(
        default_factory=lambda: [
            ResourceView(
                "web",
                "Deployment",
                ("frontend",),
                Status.READY,
                last_update=UpdateRecord("build", 2.5, time.time() - 120, build_seconds=2.0, deploy_seconds=0.5),
                runtime="1/1 running",
                restarts=2,
                port_forwards=("http://localhost:8080",),
                since=time.time() - 120,
            ),
            ResourceView("api", "Deployment", (), Status.FAILED, reason="crashed: exit 3", last_lines=("boom",)),
        ]
    )
    store: LogStore = field(default_factory=LogStore)
    triggered: list[str] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        return Snapshot("shop", "docker", "docker engine unix:///var/run/docker.sock", tuple(self.views), 7)

    def trigger(self, name: str) -> None:
        self.triggered.append(name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "shop" / "devloop.yaml"
    path.parent.mkdir()
    path.write_text("version: 1\nname: shop\nmanifests: [k8s.yaml]\n")
    return path


def make_server(stub: Stub, config: Path, runtime_dir: Path) -> ControlServer:
    return ControlServer(
        "shop", config, stub.snapshot, stub.store, stub.trigger, env={"XDG_RUNTIME_DIR": str(runtime_dir)}
    )


@pytest.fixture
def served(config: Path, runtime_dir: Path) -> Iterator[tuple[Stub, ControlServer, ControlClient]]:
    before = docker_env.snapshot()
    stub = Stub()
    server = make_server(stub, config, runtime_dir)
    server.start()
    client = client_for(config, "shop", {"XDG_RUNTIME_DIR": str(runtime_dir)})
    try:
        yield stub, server, client
    finally:
        server.close()
    docker_env.assert_no_leaks(before, check_temp=False)


def raw_request(path: Path, request: dict[str, object]) -> list[dict[str, object]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(encode(request))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return [decode(line) for line in data.splitlines()]


# ----------------------------------------------------------------------------- endpoint and security


def test_socket_token_and_directory_are_private(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    _, server, client = served
    endpoint = server.endpoint
    assert client.endpoint == endpoint
    assert endpoint.directory.name == "devloop"
    assert stat.S_IMODE(os.stat(endpoint.directory).st_mode) == 0o700
    assert stat.S_ISSOCK(os.stat(endpoint.socket).st_mode)
    assert stat.S_IMODE(os.stat(endpoint.socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(endpoint.token).st_mode) == 0o600
    assert endpoint.socket.name.startswith("shop-") and endpoint.socket.name.endswith(".sock")
    assert len(endpoint.token.read_text().strip()) == 64


def test_request_without_or_with_wrong_token_is_refused(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    stub, server, _ = served
    requests: list[dict[str, object]] = [
        {"op": "trigger", "resource": "web"},
        {"op": "trigger", "resource": "web", "token": "0" * 64},
        {"op": "trigger", "resource": "web", "token": 12},
    ]
    for request in requests:
        answer = raw_request(server.socket_path, request)
        assert answer[0]["ok"] is False
        assert "token" in str(answer[0]["error"])
        assert len(answer) == 1
    token = server.endpoint.token.read_text().strip()
    assert raw_request(server.socket_path, {"v": 1, "op": "status", "token": token})[0]["ok"] is True
    assert stub.triggered == []


def test_unknown_protocol_version_is_refused_clearly(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    stub, server, _ = served
    token = server.endpoint.token.read_text().strip()
    for version in (2, "1", None):
        request: dict[str, object] = {"op": "trigger", "resource": "web", "token": token}
        if version is not None:
            request["v"] = version
        [answer] = raw_request(server.socket_path, request)
        assert answer["ok"] is False, answer
        error = str(answer["error"])
        assert "protocol version 1" in error and "use the same devloop" in error, error
    assert stub.triggered == []


def test_clients_trickling_their_request_do_not_lock_status_out(
    served: tuple[Stub, ControlServer, ControlClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAX_CONNECTIONS clients sending a byte now and then, never a whole line: each is cut off once its
    request took REQUEST_TIMEOUT as a whole, and a client that asks at once is served meanwhile."""
    import devloop.control.server as server_module

    _, server, client = served
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT", 2.0)
    stop = threading.Event()
    ended: list[float] = []
    lock = threading.Lock()

    def trickle() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(server.socket_path))
            sock.settimeout(0.5)
            while not stop.is_set():
                try:
                    sock.sendall(b" ")
                    sock.recv(4096)
                except TimeoutError:
                    continue  # nothing yet: another byte
                except OSError:
                    break
                break  # the server answered (its refusal) or closed
            with lock:
                ended.append(time.monotonic())

    tricklers = [threading.Thread(target=trickle) for _ in range(server_module.MAX_CONNECTIONS)]
    try:
        for t in tricklers:
            t.start()
        wait_until(lambda: len(server._conns) >= server_module.MAX_CONNECTIONS, "every trickler connected")
        snapshot, _ = client.status()  # served although every connection was taken
        assert snapshot.project == "shop"
        # each trickler is cut off by the whole-request deadline, though it keeps sending (a hang guard)
        wait_until(lambda: len(ended) == len(tricklers), "the trickling clients to be cut off", timeout=60)
    finally:
        stop.set()
        for t in tricklers:
            t.join(10)


def test_nothing_listens_on_a_network_interface(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    pid = os.getpid()
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        listening = [r.split() for r in rows if r.split()[3] == "0A" or table.startswith("udp")]
        assert not [r for r in listening if r[9] in inodes], f"this process listens on {table}"


def test_private_dir_made_0700_and_fallback_without_xdg(config: Path, runtime_dir: Path) -> None:
    tmp_root = str(runtime_dir / "tmp")
    os.mkdir(tmp_root)
    env: dict[str, str] = {}  # no XDG_RUNTIME_DIR: /tmp/devloop-<uid> (here under tmp_root)
    assert candidate_dirs(env, tmp_root=tmp_root) == [Path(tmp_root) / f"devloop-{os.getuid()}"]
    stub = Stub()
    with ControlServer("shop", config, stub.snapshot, stub.store, stub.trigger, env=env, tmp_root=tmp_root) as s:
        assert s.endpoint.directory == Path(tmp_root) / f"devloop-{os.getuid()}"
        assert stat.S_IMODE(os.stat(s.endpoint.directory).st_mode) == 0o700
        found = find_endpoint(config, env, tmp_root=tmp_root)
        assert found == s.endpoint
    # an XDG_RUNTIME_DIR that does not exist is not usable
    assert candidate_dirs({"XDG_RUNTIME_DIR": str(runtime_dir / "nope")}, tmp_root=tmp_root)[0].name.startswith(
        "devloop-"
    )


def test_directory_open_to_others_is_refused_by_the_client(config: Path, runtime_dir: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(runtime_dir)}
    stub = Stub()
    with make_server(stub, config, runtime_dir) as server:
        os.chmod(server.endpoint.directory, 0o755)
        with pytest.raises(Exception, match="can be reached by other users"):
            client_for(config, "shop", env)
        os.chmod(server.endpoint.directory, 0o700)


def test_stale_socket_is_replaced(config: Path, runtime_dir: Path) -> None:
    stub = Stub()
    endpoint = server_endpoint("shop", config, {"XDG_RUNTIME_DIR": str(runtime_dir)})
    os.makedirs(endpoint.directory, mode=0o700)
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(endpoint.socket))  # bound, never listening, then gone: what a killed `up` leaves
    crashed.close()
    endpoint.token.write_text("old\n")
    client = ControlClient(endpoint, "shop")
    with pytest.raises(NoRunningUpError, match="left over from one that stopped"):
        client.status()
    with make_server(stub, config, runtime_dir) as server:
        assert server.endpoint == endpoint
        snapshot, _ = client.status()
        assert snapshot.project == "shop"
        assert endpoint.token.read_text().strip() != "old"


def test_second_server_for_the_same_project_is_refused(
    served: tuple[Stub, ControlServer, ControlClient], config: Path, runtime_dir: Path
) -> None:
    _, server, client = served
    other = make_server(Stub(), config, runtime_dir)
    with pytest.raises(UpAlreadyRunningError) as info:
        other.start()
    message = str(info.value)
    assert f"pid {os.getpid()}" in message
    assert "already running for project shop" in message
    assert info.value.exit_code == 1
    other.close()  # closing the refused one must not remove the files of the running one
    # the first one is untouched and still answers
    assert client.status()[0].project == "shop"
    assert server.socket_path.exists()


def test_close_leaves_no_thread_or_file(config: Path, runtime_dir: Path) -> None:
    before = docker_env.snapshot()
    stub = Stub()
    server = make_server(stub, config, runtime_dir)
    server.start()
    client = ControlClient(server.endpoint, "shop")
    # a follower connected while closing gets an end message
    follower = client.logs(follow=True)
    assert next(follower)["ok"] is True
    server.close()
    assert list(follower) == [{"end": "stopped"}]
    assert not server.endpoint.directory.exists()  # the last server of this user removes the empty directory
    docker_env.assert_no_leaks(before, check_temp=False)
    with pytest.raises(NoRunningUpError, match="looked for"):
        client.status()


def test_close_cuts_off_a_follower_that_does_not_read(config: Path, runtime_dir: Path) -> None:
    before = docker_env.snapshot()
    stub = Stub()
    server = make_server(stub, config, runtime_dir)
    server.start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(server.socket_path))
    token = server.endpoint.token.read_text().strip()
    sock.sendall(encode({"token": token, "op": "logs", "follow": True}))
    for i in range(20000):  # far more than the socket buffers hold: the server blocks writing
        stub.store.append("web", f"line {i} " + "x" * 100)
    server.close()
    sock.close()
    docker_env.assert_no_leaks(before, check_temp=False)


# ----------------------------------------------------------------------------- requests


def test_status_round_trip(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    stub, _, client = served
    snapshot, data = client.status()
    assert snapshot == stub.snapshot()
    assert data["counts"] == {"total": 2, "ready": 1, "failed": 1, "updating": 0}
    api = data["resources"][1]
    assert set(api) == set(ResourceView.__dataclass_fields__)
    assert api["status"] == "failed" and api["reason"] == "crashed: exit 3"


def test_logs_round_trips(config: Path, runtime_dir: Path) -> None:
    stub = Stub()
    clock = [1000.0]
    stub.store = LogStore(per_resource=3, clock=lambda: clock[0])
    for i in range(5):
        stub.store.append("web", f"w{i}")
    clock[0] = time.time()
    stub.store.append("api", "a0")
    stub.store.append("", "config reloaded")
    with make_server(stub, config, runtime_dir) as server:
        client = ControlClient(server.endpoint, "shop")

        def texts(*args: object, **kwargs: object) -> tuple[int, list[str]]:
            head, *rest = list(client.logs(*args, **kwargs))  # type: ignore[arg-type]
            assert rest[-1] == {"end": "done"}
            return int(head["dropped"]), [f"{m['log']['resource']}:{m['log']['text']}" for m in rest[:-1]]

        assert texts() == (2, ["web:w2", "web:w3", "web:w4", "api:a0", ":config reloaded"])
        assert texts("web") == (2, ["web:w2", "web:w3", "web:w4"])
        assert texts("api") == (0, ["api:a0"])
        assert texts(since_seconds=300) == (2, ["api:a0", ":config reloaded"])
        with pytest.raises(RemoteError, match="no resource named `wbe`; did you mean `web`") as info:
            list(client.logs("wbe"))
        assert info.value.exit_code == 2


def test_logs_follow_receives_a_line_appended_after_the_request(
    served: tuple[Stub, ControlServer, ControlClient],
) -> None:
    stub, _, client = served
    stub.store.append("web", "before")
    stream = client.logs("web", follow=True)
    assert next(stream)["ok"] is True
    assert next(stream)["log"]["text"] == "before"
    stub.store.append("api", "not for web")
    stub.store.append("web", "after")
    assert next(stream)["log"]["text"] == "after"
    stream.close()  # the client goes away; the server notices and ends that connection


@pytest.mark.parametrize("resource", [None, "web"])
def test_logs_follow_says_how_many_lines_a_slow_reader_lost(
    config: Path, runtime_dir: Path, resource: str | None
) -> None:
    stub = Stub(store=LogStore(per_resource=50))
    with make_server(stub, config, runtime_dir) as server:
        stream = ControlClient(server.endpoint, "shop").logs(resource, follow=True)
        assert next(stream)["ok"] is True
        for i in range(20):  # more than the socket buffers hold while this reader does not read
            stub.store.append("web", f"big{i} " + "x" * 50_000)
        for i in range(500):  # meanwhile the store keeps only the newest 50 of each resource
            stub.store.append("web", f"s{i}")
            stub.store.append("api", f"a{i}")
        received, lost = 0, 0
        for message in stream:
            if "dropped_here" in message:
                lost += int(message["dropped_here"])
                continue
            entry = message["log"]
            assert resource is None or entry["resource"] == resource
            received += 1
            if entry["text"] == ("a499" if resource is None else "s499"):
                break
        stream.close()
    appended = 520 + (500 if resource is None else 0)
    assert lost > 0
    assert received + lost == appended


def test_trigger_reaches_trigger_fn(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    stub, _, client = served
    answers = list(client.trigger("web", wait=False))
    assert answers[0]["ok"] is True and answers[0]["view"]["name"] == "web"
    assert stub.triggered == ["web"]
    with pytest.raises(RemoteError, match="no resource named `nope`") as info:
        list(client.trigger("nope"))
    assert info.value.exit_code == 2
    assert stub.triggered == ["web"]


def test_many_clients_at_once(served: tuple[Stub, ControlServer, ControlClient]) -> None:
    _, _, client = served
    results: list[str] = []
    lock = threading.Lock()

    def ask() -> None:
        snapshot, _ = client.status()
        with lock:
            results.append(snapshot.project)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["shop"] * 20


# ----------------------------------------------------------------------------- with a real engine


def test_engine_trigger_of_manual_resource_through_the_endpoint(tmp_path: Path, runtime_dir: Path) -> None:
    before = docker_env.snapshot()
    project = make_project(tmp_path, manual=("api",))
    target, builder = FakeTarget(), FakeBuilder()
    store = LogStore()
    engine, _ = engine_for(project, target, builder, sink=LogSink(store), mode="up", watch=False)
    from devloop.engine.events import FilesChanged

    ctx = project.config.images[0].context
    with ThreadRunner(engine) as run:
        server = serve_control(
            project.name, project.config.path, engine, store, env={"XDG_RUNTIME_DIR": str(runtime_dir)}
        )
        try:
            client = client_for(project.config.path, project.name, {"XDG_RUNTIME_DIR": str(runtime_dir)})
            run.wait_for(lambda: run.status("api") is Status.READY, "first deploy")
            engine.post(FilesChanged(frozenset({ctx / "Dockerfile"}), frozenset()))
            run.wait_for(lambda: run.status("api") is Status.MANUAL_PENDING, "changes pending")
            snapshot, _ = client.status()
            api = snapshot.resource("api")
            assert api is not None and api.status is Status.MANUAL_PENDING and api.pending_changes == 1
            answers = list(client.trigger("api"))
            assert answers[0]["view"]["status"] == "manual-pending"
            assert "done" in answers[-1] and answers[-1]["done"]["status"] == "ready"
            assert builder.builds == ["shop/api", "shop/api"]
            _, *lines = list(client.logs("api"))
            texts = [m["log"]["text"] for m in lines[:-1]]
            assert "update triggered" in texts
            assert any(t.startswith("── ready") for t in texts)
        finally:
            server.close()
    docker_env.assert_no_leaks(before, check_temp=False)


# ----------------------------------------------------------------------------- the CLI process


def cli(args: list[str], cwd: Path, runtime_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "devloop", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_cli_without_running_up_says_so_with_exit_1(config: Path, runtime_dir: Path) -> None:
    for args in (["status"], ["logs"], ["trigger", "web"]):
        result = cli(args, config.parent, runtime_dir)
        assert result.returncode == 1, result
        expected = runtime_dir / "devloop" / "shop-"
        assert result.stderr.startswith(f"devloop: no `devloop up` is running for project shop (looked for {expected}")
        assert result.stderr.rstrip().endswith("start one with `devloop up`.")
        assert len(result.stderr.strip().splitlines()) == 1


def test_cli_status_logs_trigger(config: Path, runtime_dir: Path) -> None:
    stub = Stub()
    stub.store.append("web", "listening on :8080")
    stub.store.append("api", "boom")
    with make_server(stub, config, runtime_dir):
        result = cli(["status"], config.parent, runtime_dir)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == (
            "shop on docker engine unix:///var/run/docker.sock: 2 resource(s), 1 ready, 0 updating, 1 failed"
        )
        assert lines[1].split() == ["NAME", "STATE", "LAST", "UPDATE", "RUNTIME", "DETAIL"]
        assert lines[2].split() == [
            "web", "ready", "build", "2.5", "s,", "2m", "ago", "1/1", "running", "(2", "restarts)",
            "http://localhost:8080",
        ]  # fmt: skip
        assert lines[3].split()[:3] == ["api", "failed", "-"] and lines[3].endswith("crashed: exit 3")

        result = cli(["-f", str(config), "status", "-o", "json"], REPO, runtime_dir)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert [r["name"] for r in data["resources"]] == ["web", "api"]
        assert data["resources"][0]["last_update"]["kind"] == "build"

        result = cli(["logs"], config.parent, runtime_dir)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["web     │ listening on :8080", "api     │ boom"]
        result = cli(["logs", "api", "--since", "5m"], config.parent, runtime_dir)
        assert result.stdout.splitlines() == ["api     │ boom"]
        result = cli(["logs", "ap"], config.parent, runtime_dir)
        assert result.returncode == 2
        assert "no resource named `ap`; did you mean `api`?" in result.stderr
        result = cli(["logs", "--since", "5 minutes"], config.parent, runtime_dir)
        assert result.returncode == 2 and "--since" in result.stderr

        result = cli(["trigger", "web", "--no-wait"], config.parent, runtime_dir)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("web │ update triggered")
        assert stub.triggered == ["web"]
        result = cli(["trigger", "wbe"], config.parent, runtime_dir)
        assert result.returncode == 2 and "did you mean `web`?" in result.stderr


def test_logs_command_notes_dropped_lines(config: Path, runtime_dir: Path) -> None:
    import io

    from devloop.commands import logs
    from devloop.context import Environment

    stub = Stub(store=LogStore(per_resource=2))
    for text in ("one", "two", "three"):
        stub.store.append("web", text)
    with make_server(stub, config, runtime_dir):
        out = io.StringIO()
        env = Environment(
            stdout=out, stderr=io.StringIO(), env={"XDG_RUNTIME_DIR": str(runtime_dir)}, cwd=config.parent
        )
        assert logs.run(env, resource="web", follow=False, since=None) == 0
    assert out.getvalue().splitlines() == [
        "devloop │ … 1 older line(s) were dropped (each resource keeps only its newest lines)",
        "web     │ two",
        "web     │ three",
    ]


def test_cli_trigger_waits_and_reports_the_outcome(config: Path, runtime_dir: Path) -> None:
    stub = Stub()

    def trigger(name: str) -> None:  # what the engine would do: build, deploy, ready
        stub.triggered.append(name)

        def update() -> None:
            web = stub.views[0]
            for status in (Status.BUILDING, Status.DEPLOYING):
                stub.views[0] = ResourceView(web.name, web.kind, (), status, since=time.time())
                time.sleep(0.1)
            record = UpdateRecord("build", 0.3, time.time(), build_seconds=0.2, deploy_seconds=0.1)
            stub.views[0] = ResourceView(web.name, web.kind, (), Status.READY, last_update=record, since=time.time())

        threading.Thread(target=update).start()

    server = ControlServer(
        "shop", config, stub.snapshot, stub.store, trigger, env={"XDG_RUNTIME_DIR": str(runtime_dir)}
    )
    with server:
        result = cli(["trigger", "web"], config.parent, runtime_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "web │ update triggered"
    assert lines[-1] == "web │ ready (build 0.2 s, deploy 0.1 s)"


def test_cli_logs_follow_ends_when_up_stops(config: Path, runtime_dir: Path) -> None:
    stub = Stub()
    stub.store.append("web", "first")
    server = make_server(stub, config, runtime_dir)
    server.start()
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "devloop", "logs", "-f"],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "web     │ first\n"
        stub.store.append("api", "second")
        assert proc.stdout.readline() == "api     │ second\n"
    finally:
        server.close()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out == ""
    assert err == "devloop: the `devloop up` of shop stopped; no more logs.\n"


def test_cli_logs_follow_ctrl_c_exits_130_quietly(config: Path, runtime_dir: Path) -> None:
    import signal

    stub = Stub()
    stub.store.append("web", "first")
    with make_server(stub, config, runtime_dir):
        env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))
        proc = subprocess.Popen(
            [sys.executable, "-m", "devloop", "logs", "web", "-f"],
            cwd=config.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "web     │ first\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == ""


def _trigger_in_process(config: Path, runtime_dir: Path, server: ControlServer) -> tuple[int, str, str]:
    import io

    from devloop.commands import trigger
    from devloop.context import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, env={"XDG_RUNTIME_DIR": str(runtime_dir)}, cwd=config.parent)
    with server:
        code = trigger.run(env, resource="web", wait=True)
    return code, out.getvalue(), err.getvalue()


def test_trigger_of_an_update_that_fails_shows_its_last_lines_and_exits_1(config: Path, runtime_dir: Path) -> None:
    stub = Stub()

    def trigger(name: str) -> None:  # what the engine would do: a build that fails
        stub.triggered.append(name)

        def update() -> None:
            web = stub.views[0]
            stub.views[0] = ResourceView(web.name, web.kind, (), Status.BUILDING, since=time.time())
            time.sleep(0.1)
            stub.views[0] = ResourceView(
                web.name,
                web.kind,
                (),
                Status.FAILED,
                reason="build failed: RUN make exited with 2",
                last_lines=("make: *** [all] Error 2",),
                since=time.time(),
            )

        threading.Thread(target=update).start()

    server = ControlServer(
        "shop", config, stub.snapshot, stub.store, trigger, env={"XDG_RUNTIME_DIR": str(runtime_dir)}
    )
    code, out, err = _trigger_in_process(config, runtime_dir, server)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "web │ update triggered"
    assert lines[-2:] == ["web │ failed: build failed: RUN make exited with 2", "web │   make: *** [all] Error 2"]
    assert stub.triggered == ["web"]


def test_trigger_says_when_up_stops_before_the_update_ended(config: Path, runtime_dir: Path) -> None:
    stub = Stub()
    server = ControlServer(
        "shop", config, stub.snapshot, stub.store, stub.triggered.append, env={"XDG_RUNTIME_DIR": str(runtime_dir)}
    )
    closer = threading.Timer(0.5, server.close)  # `up` stops while the update is still to come
    closer.start()
    try:
        code, out, err = _trigger_in_process(config, runtime_dir, server)
    finally:
        closer.cancel()
        closer.join()
    assert code == 1
    assert out.splitlines() == ["web │ update triggered"]
    assert err == "devloop: the `devloop up` of shop stopped before the update of web ended.\n"


def test_down_asks_the_running_up_to_stop_its_local_resources(config: Path, runtime_dir: Path) -> None:
    import io

    from devloop.commands.down import _stop_local_resources
    from devloop.context import Environment

    stub = Stub()
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, env={"XDG_RUNTIME_DIR": str(runtime_dir)}, cwd=config.parent)
    _stop_local_resources(env)  # no `up` runs: nothing to do, nothing said
    assert (out.getvalue(), err.getvalue()) == ("", "")
    server = ControlServer(
        "shop",
        config,
        stub.snapshot,
        stub.store,
        stub.trigger,
        stop_local_fn=lambda: ["frontend", "codegen"],
        env={"XDG_RUNTIME_DIR": str(runtime_dir)},
    )
    with server:
        _stop_local_resources(env)
    assert (
        out.getvalue() == "devloop down: stopped the local resources of the running `devloop up`: frontend, codegen\n"
    )
    assert err.getvalue() == ""


def test_down_warns_when_the_running_up_fails_to_stop_its_local_resources(config: Path, runtime_dir: Path) -> None:
    import io

    from devloop.commands.down import _stop_local_resources
    from devloop.context import Environment

    def fails() -> list[str]:
        raise RuntimeError("boom")

    stub = Stub()
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, env={"XDG_RUNTIME_DIR": str(runtime_dir)}, cwd=config.parent)
    server = ControlServer(
        "shop",
        config,
        stub.snapshot,
        stub.store,
        stub.trigger,
        stop_local_fn=fails,
        env={"XDG_RUNTIME_DIR": str(runtime_dir)},
    )
    with server:
        _stop_local_resources(env)  # a warning, not an error: down removed everything else already
    assert out.getvalue() == ""
    assert err.getvalue().startswith("devloop: could not stop the local resources of the running `devloop up`: ")
