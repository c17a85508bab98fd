"""The kubernetes target end to end: `devloop ci`, `up` and `down` as a user runs them (a real process, the real
`kubernetes` client) against the Kubernetes API double (tests/kube_double), whose pods are real Docker
containers pulling the images devloop pushed to the test registry.

With DEVLOOP_TEST_KUBE_CONTEXT=<context> (e.g. kind-devloop) the same tests run against that real cluster
instead (KUBECONFIG as usual); see CONTRIBUTING.md. Every test works in its own namespace and tears it down.
The safety tests (refused context, unreachable cluster) need neither.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import docker_env, images
from tests.support.e2e import HANG, REPO, Running, devloop_argv, get, output, run_devloop
from tests.support.projects import (
    HTTP_READY,
    Image,
    configmap,
    container,
    deployment,
    free_port,
    httpd,
    job,
    service,
    write_project,
)

PROJECT_LABEL = "devloop.dev/project"


@dataclass
class Cluster:
    kubeconfig: str
    context: str

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": self.kubeconfig}

    def api(self) -> Any:
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, context=self.context, client_configuration=configuration)
        return client.ApiClient(configuration)


@pytest.fixture(scope="module")
def cluster(kube_cluster: Any) -> Cluster:
    """The real cluster of DEVLOOP_TEST_KUBE_CONTEXT (e.g. scripts/local-kubernetes), else the API double."""
    return Cluster(str(kube_cluster.kubeconfig_path), kube_cluster.context)


class KubeProject:
    def __init__(self, root: Path, name: str, cluster: Cluster, request: pytest.FixtureRequest) -> None:
        self.root = root
        self.name = name
        self.namespace = name
        self.cluster = cluster
        self._request = request

    def ref(self, image: str) -> str:
        return f"{self.name}/{image}"

    def write(self, **kwargs: Any) -> KubeProject:
        kubernetes = {"context": self.cluster.context, "namespace": self.namespace, **kwargs.pop("kubernetes", {})}
        write_project(self.root, self.name, kubernetes=kubernetes, **kwargs)
        return self

    def run(self, *args: str) -> Any:
        return run_devloop(self.root, *args, target="kubernetes", env=self.cluster.env())

    def start(self, *args: str) -> Running:
        running = Running(devloop_argv(self.root, args, "kubernetes"), self.cluster.env())
        self._request.addfinalizer(running.close)
        return running

    def pods(self) -> list[Any]:
        from kubernetes import client

        with self.cluster.api() as api:
            items = (
                client.CoreV1Api(api)
                .list_namespaced_pod(self.namespace, label_selector=f"{PROJECT_LABEL}={self.name}")
                .items
            )
        return [p for p in items if p.metadata.deletion_timestamp is None]

    def exec(self, pod: str, container: str, argv: list[str]) -> str:
        """Run ``argv`` in a container of the project's namespace (as ``kubectl exec`` does)."""
        from kubernetes import client
        from kubernetes.stream import stream

        with self.cluster.api() as api:
            core = client.CoreV1Api(api)
            return str(
                stream(
                    core.connect_get_namespaced_pod_exec,
                    pod,
                    self.namespace,
                    container=container,
                    command=argv,
                    stderr=True,
                    stdin=False,
                    stdout=True,
                    tty=False,
                )
            )

    def logs(self, selector: str) -> str:
        """The logs of every pod of the namespace matching ``selector`` (label selector), joined."""
        from kubernetes import client

        with self.cluster.api() as api:
            core = client.CoreV1Api(api)
            pods = core.list_namespaced_pod(self.namespace, label_selector=selector).items
            out = []
            for pod in pods:
                try:
                    out.append(str(core.read_namespaced_pod_log(pod.metadata.name, self.namespace)))
                except client.ApiException:
                    continue
            return "".join(out)

    def deployments(self) -> list[str]:
        from kubernetes import client

        with self.cluster.api() as api:
            items = (
                client.AppsV1Api(api)
                .list_namespaced_deployment(self.namespace, label_selector=f"{PROJECT_LABEL}={self.name}")
                .items
            )
        return [d.metadata.name for d in items]

    def advertised_registry(self) -> str:
        from kubernetes import client

        with self.cluster.api() as api:
            data = client.CoreV1Api(api).read_namespaced_config_map("local-registry-hosting", "kube-public").data
        return str((yaml.safe_load((data or {}).get("localRegistryHosting.v1") or "") or {}).get("host") or "")

    def namespace_exists(self) -> bool:
        from kubernetes import client

        with self.cluster.api() as api:
            names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        return self.namespace in names


@pytest.fixture
def kproject(
    tmp_path: Path, unique_name: str, cluster: Cluster, request: pytest.FixtureRequest
) -> Iterator[KubeProject]:
    missing = images.busybox_missing()
    if missing is not None:
        docker_env.unavailable(f"{missing}: run scripts/setup-system")
    proj = KubeProject(tmp_path / unique_name, unique_name, cluster, request)
    yield proj
    if (proj.root / "devloop.yaml").exists():
        proj.run("down", "--delete-namespaces", "--prune-images")


def web(
    p: KubeProject, *, www: str = "v1\n", live_update: dict[str, Any] | None = None, **resource: Any
) -> KubeProject:
    """A Deployment `web`: busybox httpd on 8080 (a readiness probe), printing `started` each time it starts;
    its Service and a ConfigMap it reads an environment variable from."""
    env = [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "greeting"}}}]
    app = container(
        "web",
        p.ref("web"),
        ["sh", "-c", 'echo "started $GREETING"; exec httpd -f -p 8080 -h /www'],
        env=env,
        ports=[{"containerPort": 8080}],
        readinessProbe=dict(HTTP_READY),
    )
    settings = {"live_update": live_update} if live_update else {}
    return p.write(
        objects=[deployment("web", [app]), service("web", 8080), configmap("web-config", {"greeting": "hello"})],
        images=[Image("web", p.ref("web"), lines=["COPY www /www"], files={"www/index.html": www}, settings=settings)],
        resources={"web": {"readiness_timeout": 60, **resource}},
    )


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def up_restarting_web(kproject: KubeProject) -> tuple[KubeProject, Running, int, str]:
    """`up` of :func:`web` with a live update that syncs www/ and restarts, forwarded to a free port; once the
    forward serves v1: (project, the running up, the port, the URL of index.html)."""
    port = free_port()
    p = web(
        kproject,
        live_update={"sync": [{"src": "www", "dest": "/www"}], "restart": True},
        port_forwards=[f"{port}:8080"],
    )
    running = p.start("up")
    running.wait_line(r"web.*ready", timeout=HANG)
    url = f"http://127.0.0.1:{port}/index.html"
    assert wait_for(lambda: get(url) == "v1\n", "the forward serves v1")
    return p, running, port, url


# ------------------------------------------------------------------------------------------- ci / up / down


def test_ci_deploys_waits_until_ready_and_down_removes_everything(kproject: KubeProject) -> None:
    p = web(kproject)
    objects = yaml.safe_load_all((p.root / "k8s.yaml").read_text())
    migrate = job("migrate", [container("migrate", p.ref("web"), ["sh", "-c", "echo migrated"])])
    write_project(
        p.root,
        p.name,
        objects=[*objects, migrate],
        kubernetes={"context": p.cluster.context, "namespace": p.namespace},
        images=[Image("web", p.ref("web"), lines=["COPY www /www"], files={"www/index.html": "v1\n"})],
        resources={"web": {"readiness_timeout": 60}},
    )
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 0, output(result)
    assert p.deployments() == ["web"]
    assert p.namespace_exists()  # devloop created the namespace
    # delivered through the registry that the cluster advertises (KEP-1755), which the cluster pulled from
    host = p.advertised_registry()
    assert host, "kube-public/local-registry-hosting advertises no registry"
    images = {c.image for pod in p.pods() for c in pod.spec.containers}
    assert images and all(image.startswith(f"{host}/") for image in images), images

    again = p.run("ci", "--timeout", "120")  # nothing changed: nothing is re-applied, no new rollout
    assert again.returncode == 0, output(again)
    pods_before = {pod.metadata.name for pod in p.pods()}

    down = p.run("down")
    assert down.returncode == 0, output(down)
    assert "Deployment web" in down.stdout and "Service web" in down.stdout
    assert p.deployments() == [] and p.pods() == []
    assert pods_before  # there were pods, now gone
    assert p.namespace_exists()  # kept without --delete-namespaces
    gone = p.run("down", "--delete-namespaces")
    assert gone.returncode == 0, output(gone)
    assert f"namespace {p.namespace}" in gone.stdout


def test_ci_fails_with_the_crash_loop_reason_and_logs(kproject: KubeProject) -> None:
    p = kproject.write(
        objects=[
            deployment("crash", [container("crash", kproject.ref("crash"), ["sh", "-c", "echo boom-$((1+1)); exit 3"])])
        ],
        images=[Image("crash", kproject.ref("crash"))],
    )
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 1, output(result)
    text = result.stdout + result.stderr
    assert "crash loop" in text and "exited with 3" in text, output(result)
    assert "boom-2" in text


def test_ci_fails_with_the_image_pull_reason(kproject: KubeProject) -> None:
    p = kproject.write(
        objects=[deployment("ghost", [container("ghost", "127.0.0.1:5001/devloop-test/missing:nope", ["true"])])]
    )
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 1, output(result)
    assert "image pull failed" in result.stdout + result.stderr, output(result)


def test_ci_fails_naming_the_failed_job_with_its_logs(kproject: KubeProject) -> None:
    p = kproject.write(
        objects=[
            job(
                "migrate",
                [container("migrate", kproject.ref("migrate"), ["sh", "-c", "echo schema-$((40+2)); exit 4"])],
            )
        ],
        images=[Image("migrate", kproject.ref("migrate"))],
    )
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 1, output(result)
    text = result.stdout + result.stderr
    assert "Job migrate" in text and "exited with 4" in text, output(result)
    assert "schema-42" in text, output(result)


def test_the_hello_example_deploys_and_serves_through_its_port_forward(
    tmp_path: Path, unique_name: str, cluster: Cluster, docker_client: Any, request: pytest.FixtureRequest
) -> None:
    import docker.errors

    try:
        docker_client.images.get("python:3.12-slim")  # examples/hello builds FROM it
    except docker.errors.ImageNotFound:
        docker_env.unavailable("python:3.12-slim is missing: run scripts/make-python-base-image")
    root = tmp_path / "hello"
    shutil.copytree(REPO / "examples" / "hello", root)
    config = yaml.safe_load((root / "devloop.yaml").read_text())
    port = free_port()
    config["name"] = unique_name
    config["kubernetes"] = {"context": cluster.context, "namespace": unique_name}
    config["resources"]["hello"]["port_forwards"] = [f"{port}:8000"]
    (root / "devloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    project = KubeProject(root, unique_name, cluster, request)
    try:
        running = project.start("up")
        running.wait_line(r"hello.*ready", timeout=3 * HANG)
        greeting = (root / "app" / "greeting.txt").read_text().strip()
        body = wait_for(lambda: get(f"http://127.0.0.1:{port}/"), "the example answers on its forward")
        assert body.startswith(f"{greeting}, "), body
        assert running.interrupt() == 130, running.text
    finally:
        down = project.run("down", "--delete-namespaces", "--prune-images")
    assert down.returncode == 0, output(down)


# ------------------------------------------------------------------------------------------- up: live update, forwards


def test_up_live_update_over_exec_restart_keeps_files_and_forward_follows_new_pods(kproject: KubeProject) -> None:
    p, running, port, url = up_restarting_web(kproject)
    first_pods = {pod.metadata.name for pod in p.pods()}
    starts = running.text.count("started hello")

    (p.root / "web" / "www" / "index.html").write_text("v2\n")
    (p.root / "web" / "www" / "new.html").write_text("new\n")
    wait_for(lambda: get(url) == "v2\n", "the live-updated file is served")
    assert get(f"http://127.0.0.1:{port}/new.html") == "new\n"
    assert {pod.metadata.name for pod in p.pods()} == first_pods  # the same pod: no rebuild, no rollout
    # restart: true restarted the main process inside the same container (it printed `started` again),
    # and the synced files survived the restart
    wait_for(lambda: running.text.count("started hello") > starts, "the process restarted")
    assert get(url) == "v2\n"
    assert all(cs.restart_count == 0 for pod in p.pods() for cs in pod.status.container_statuses or [])

    (p.root / "web" / "www" / "new.html").unlink()
    wait_for(lambda: get(f"http://127.0.0.1:{port}/new.html") is None, "the deleted file is gone")

    # a manifest change rolls out a new pod: the same local port now reaches the new pod
    docs = list(yaml.safe_load_all((p.root / "k8s.yaml").read_text()))
    docs[2]["data"]["greeting"] = "hi again"
    docs[0]["spec"]["template"]["metadata"]["annotations"] = {"rev": "2"}
    (p.root / "k8s.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    wait_for(lambda: {pod.metadata.name for pod in p.pods()} - first_pods, "a new pod", timeout=HANG)
    wait_for(lambda: "started hi again" in running.text, "the new pod started")
    assert wait_for(lambda: get(url) in ("v1\n", "v2\n"), "the forward reaches the new pod")
    assert running.interrupt() == 130, running.text


def test_up_forwards_a_named_port_to_a_container_running_the_image_entrypoint(kproject: KubeProject) -> None:
    port = free_port()
    say = ["sh", "-c", "echo said by the manifest; exec sleep 3600"]
    app = container(
        "web",
        kproject.ref("web"),
        say,
        ports=[{"name": "web-http", "containerPort": 8080}],
        readinessProbe=dict(HTTP_READY),
    )
    entrypoint = 'echo "said by the entrypoint"; exec httpd -f -p 8080 -h /www'
    p = kproject.write(
        objects=[deployment("web", [app])],
        images=[
            Image(
                "web",
                kproject.ref("web"),
                lines=["COPY www /www"],
                files={"www/index.html": "v1\n"},
                settings={"entrypoint": entrypoint},
            )
        ],
        resources={"web": {"readiness_timeout": 60, "port_forwards": [f"{port}:web-http"]}},
    )
    running = p.start("up")
    running.wait_line(r"web.*ready", timeout=HANG)
    url = f"http://127.0.0.1:{port}/index.html"
    assert wait_for(lambda: get(url) == "v1\n", "the named port forward serves v1")
    running.wait_line(r"web.*said by the entrypoint", timeout=HANG)
    assert "said by the manifest" not in running.text


def test_up_live_update_runs_a_triggered_step_in_the_container(kproject: KubeProject) -> None:
    """A `run` step whose trigger changed runs inside the running container after the sync (no rebuild)."""
    port = free_port()
    step = {"cmd": "tr a-z A-Z < /www/deps.txt > /www/installed.html", "trigger": ["www/deps.txt"]}
    p = web(
        kproject,
        live_update={"sync": [{"src": "www", "dest": "/www"}], "run": [step]},
        port_forwards=[f"{port}:8080"],
    )
    (p.root / "web" / "www" / "deps.txt").write_text("one\n")
    running = p.start("up")
    running.wait_line(r"web.*ready", timeout=HANG)
    first_pods = {pod.metadata.name for pod in p.pods()}
    (p.root / "web" / "www" / "deps.txt").write_text("two\n")
    url = f"http://127.0.0.1:{port}/installed.html"
    assert wait_for(lambda: get(url) == "TWO\n", "the run step's output is served", timeout=HANG)
    assert {pod.metadata.name for pod in p.pods()} == first_pods  # in place: no rebuild, no rollout
    assert running.interrupt() == 130, running.text


def test_a_real_restart_after_an_in_place_restart_gets_the_synced_files_again(kproject: KubeProject) -> None:
    """After a `restart: true` live update (the process restarted in place: the kubelet's startedAt stays), a real
    container restart (here the main process killed, as a crash, OOM kill or liveness kill would) brings the
    image's old files back: devloop must notice it and sync the files again, not keep showing ready on v1."""
    p, running, _, url = up_restarting_web(kproject)
    (p.root / "web" / "www" / "index.html").write_text("v2\n")
    wait_for(lambda: get(url) == "v2\n", "the live-updated file is served")
    wait_for(lambda: "live update of" in running.text, "the live update finished")
    time.sleep(3)  # let the monitor see the restarted-in-place container at least once
    pod = p.pods()[0].metadata.name
    p.exec(pod, "web", ["/bin/sh", "-c", "kill 1"])  # the container exits and the kubelet starts a new one
    wait_for(
        lambda: any(cs.restart_count >= 1 for q in p.pods() for cs in q.status.container_statuses or []),
        "the container restarted",
        timeout=HANG,
    )
    assert wait_for(lambda: get(url) == "v2\n" and "re-syncing" in running.text, "the files synced again", HANG)
    assert running.interrupt() == 130, running.text


# ------------------------------------------------------------------------------------------- finished pods


def test_a_failed_pod_kept_by_the_replicaset_beside_a_ready_one_does_not_fail_ci(kproject: KubeProject) -> None:
    """An evicted or failed pod stays with its ReplicaSet (phase Failed) while a replacement runs: not a failure."""
    from kubernetes import client

    p = web(kproject)
    first = p.run("ci", "--timeout", "120")
    assert first.returncode == 0, output(first)
    (ready,) = p.pods()
    with p.cluster.api() as api:
        core = client.CoreV1Api(api)
        owner = ready.metadata.owner_references[0]
        spec = {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "web", "image": ready.spec.containers[0].image, "command": ["sh", "-c", "exit 1"]}],
        }
        ref = {"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name, "uid": owner.uid}
        # made apart (a ReplicaSet deletes an extra active pod), then given to the ReplicaSet once it failed: a
        # finished pod is neither adopted nor deleted by it, exactly like a pod the kubelet evicted
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-evicted"}, "spec": spec}
        core.create_namespaced_pod(p.namespace, body)
        wait_for(
            lambda: core.read_namespaced_pod("web-evicted", p.namespace).status.phase == "Failed", "the pod failed"
        )
        meta = {"labels": ready.metadata.labels, "ownerReferences": [{**ref, "controller": True}]}
        core.patch_namespaced_pod("web-evicted", p.namespace, {"metadata": meta})
        time.sleep(3)  # give the ReplicaSet controller time to (not) act on it
        assert core.read_namespaced_pod("web-evicted", p.namespace).metadata.owner_references[0].uid == owner.uid
    second = p.run("ci", "--timeout", "120")
    assert second.returncode == 0, output(second)


# ------------------------------------------------------------------------------------------- failures without a pod


@pytest.mark.parametrize("case", ["service-account", "mount", "job-backoff"])
def test_failures_without_a_crashing_container_fail_ci_fast_with_the_events_message(
    kproject: KubeProject, case: str
) -> None:
    """A missing ServiceAccount (the ReplicaSet cannot create pods), a missing ConfigMap volume (the pod stays in
    ContainerCreating with FailedMount events) and a Job pod that failed while the Job waits to retry: each fails
    ci within seconds with the cluster's message, not after a readiness timeout."""
    p = kproject
    image = p.ref("app")
    if case == "service-account":
        obj = deployment("app", [container("app", image, ["sleep", "3600"])], serviceAccountName="robot")
        expected = 'serviceaccount "robot" not found'
    elif case == "mount":
        mounted = container("app", image, ["sleep", "3600"], volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
        obj = deployment("app", [mounted], volumes=[{"name": "cfg", "configMap": {"name": "settings"}}])
        expected = 'FailedMount: MountVolume.SetUp failed for volume "cfg"'
    else:
        obj = job("app", [container("app", image, ["sh", "-c", "echo nope; exit 2"])], backoff_limit=4)
        expected = "exited with 2"
    p.write(objects=[obj], images=[Image("app", image)], resources={"app": {"readiness_timeout": 60}})
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 1, output(result)
    assert expected in result.stdout + result.stderr, output(result)
    assert "not ready after" not in result.stdout + result.stderr


def test_warning_events_of_a_resources_objects_stream_into_its_logs(kproject: KubeProject) -> None:
    from kubernetes import client

    p = web(kproject)
    running = p.start("up")
    running.wait_line(r"web.*ready", timeout=HANG)
    (pod,) = p.pods()
    # Events from before the log follower started are not replayed: post one now and then (a new one each time)
    # until one shows, instead of guessing how long the follower takes to start on a busy machine.
    pattern = r"web .*Warning Unhealthy pod/web-.*: Readiness probe failed: the test says so"
    deadline = time.monotonic() + HANG
    for attempt in itertools.count(1):
        with p.cluster.api() as api:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            involved = {"kind": "Pod", "name": pod.metadata.name, "namespace": p.namespace, "uid": pod.metadata.uid}
            body = {
                "metadata": {"name": f"{pod.metadata.name}.test{attempt}", "namespace": p.namespace},
                "involvedObject": {"apiVersion": "v1", **involved},
                "reason": "Unhealthy",
                "message": "Readiness probe failed: the test says so",
                "type": "Warning",
                "count": 1,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "source": {"component": "test"},
            }
            client.CoreV1Api(api).create_namespaced_event(p.namespace, body)
        try:
            running.wait_line(pattern, timeout=3)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    assert running.interrupt() == 130, running.text


# ------------------------------------------------------------------------------------------- namespaces


def test_ci_right_after_down_delete_namespaces_waits_for_the_terminating_namespace(kproject: KubeProject) -> None:
    """A namespace deleted by `down --delete-namespaces` may take a while to go (finalizers, pods in their grace
    period): the next `ci` waits for it, saying so, instead of failing on the server's 403 for every object."""
    from kubernetes import client

    p = web(kproject)
    first = p.run("ci", "--timeout", "120")
    assert first.returncode == 0, output(first)
    held = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["devloop.dev/test"]}}
    with p.cluster.api() as api:  # an object with a finalizer devloop does not know keeps the namespace terminating
        client.CoreV1Api(api).create_namespaced_config_map(p.namespace, held)

    def release() -> None:
        with p.cluster.api() as api, contextlib.suppress(client.ApiException):
            client.CoreV1Api(api).patch_namespaced_config_map("held", p.namespace, {"metadata": {"finalizers": None}})

    try:
        down = p.run("down", "--delete-namespaces")
        assert down.returncode == 0, output(down)
        with p.cluster.api() as api:
            assert client.CoreV1Api(api).read_namespace(p.namespace).status.phase == "Terminating"
        again = p.start("ci", "--timeout", "180")
        again.wait_line(rf"namespace {p.namespace} is terminating", timeout=HANG)
    finally:
        release()  # never leave a namespace stuck in Terminating on a real cluster
    assert again.proc.wait(timeout=HANG) == 0, again.text
    assert p.deployments() == ["web"] and p.namespace_exists()


# ------------------------------------------------------------------------------------------- daemonsets


def test_ci_waits_for_the_pods_of_a_daemonsets_newest_template(kproject: KubeProject) -> None:
    p = kproject

    def write(greeting: str) -> None:
        agent = deployment("agent", [httpd("agent", p.ref("agent"), env=[{"name": "G", "value": greeting}])])
        agent["kind"] = "DaemonSet"
        del agent["spec"]["replicas"]
        p.write(
            objects=[agent],
            images=[Image("agent", p.ref("agent"), lines=["COPY www /www"], files={"www/index.html": "hi\n"})],
            resources={"agent": {"readiness_timeout": 60}},
        )

    write("one")
    first = p.run("ci", "--timeout", "120")
    assert first.returncode == 0, output(first)
    assert [pod.status.phase for pod in p.pods()] == ["Running"]
    write("two")
    second = p.run("ci", "--timeout", "120")
    assert second.returncode == 0, output(second)
    env = [e.value for pod in p.pods() for c in pod.spec.containers for e in c.env or []]
    assert "two" in env, output(second)


# ------------------------------------------------------------------------------------------- drift


def test_ci_start_puts_back_what_was_changed_in_the_cluster_and_changes_nothing_else(kproject: KubeProject) -> None:
    from kubernetes import client

    p = web(kproject)
    first = p.run("ci", "--timeout", "120")
    assert first.returncode == 0, output(first)
    with p.cluster.api() as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.patch_namespaced_deployment("web", p.namespace, {"spec": {"replicas": 0}})
        core.patch_namespaced_config_map("web-config", p.namespace, {"data": {"greeting": "drifted"}})
    wait_for(lambda: not p.pods(), "the drifted Deployment scaled to 0")
    second = p.run("ci", "--timeout", "120")
    assert second.returncode == 0, output(second)
    with p.cluster.api() as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        deployment_after = apps.read_namespaced_deployment("web", p.namespace)
        assert deployment_after.spec.replicas == 1
        assert core.read_namespaced_config_map("web-config", p.namespace).data == {"greeting": "hello"}
    pods = {pod.metadata.name for pod in p.pods()}
    assert len(pods) == 1
    third = p.run("ci", "--timeout", "120")  # nothing drifted: the apply changes nothing, no new rollout
    assert third.returncode == 0, output(third)
    with p.cluster.api() as api:
        again = client.AppsV1Api(api).read_namespaced_deployment("web", p.namespace)
    assert again.metadata.generation == deployment_after.metadata.generation  # the spec was not touched
    assert {pod.metadata.name for pod in p.pods()} == pods


# ------------------------------------------------------------------------------------------- immutable fields


def test_changed_job_template_and_pod_spec_are_recreated_and_the_job_runs_again(kproject: KubeProject) -> None:
    """A real API server refuses a changed Job template (the image was rebuilt) and a changed Pod spec (422 field
    is immutable): devloop deletes and creates them again, and the Job runs again with the new image."""
    p = kproject

    def write(www: str, mode: str) -> None:
        shown = container("show", p.ref("tool"), ["sh", "-c", "echo job-$(cat /www/index.html)"])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "solo", "labels": {"app": "solo"}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    container(
                        "solo",
                        p.ref("tool"),
                        ["sh", "-c", "echo pod-$MODE; exec sleep 3600"],
                        env=[{"name": "MODE", "value": mode}],
                    )
                ],
            },
        }
        p.write(
            objects=[job("show", [shown]), pod],
            images=[Image("tool", p.ref("tool"), lines=["COPY www /www"], files={"www/index.html": www})],
        )

    write("one", "first")
    first = p.run("ci", "--timeout", "120")
    assert first.returncode == 0, output(first)
    assert "job-one" in p.logs("job-name=show") and "pod-first" in p.logs("app=solo")
    write("two", "second")
    second = p.run("ci", "--timeout", "120")
    assert second.returncode == 0, output(second)
    assert "job-two" in wait_for(lambda: p.logs("job-name=show"), "the new Job's pod logs"), output(second)
    assert "pod-second" in wait_for(lambda: p.logs("app=solo"), "the new Pod's logs")


def test_up_streams_the_logs_of_every_run_of_a_restarting_container(kproject: KubeProject) -> None:
    # each run counts itself in an emptyDir (which outlives container restarts) and exits after a moment
    script = 'n=$(($(cat /data/n 2>/dev/null || echo 0) + 1)); echo $n > /data/n; echo "run-$n"; sleep 2'
    tick = deployment(
        "tick",
        [
            container(
                "tick",
                kproject.ref("tick"),
                ["sh", "-c", script],
                volumeMounts=[{"name": "data", "mountPath": "/data"}],
            )
        ],
        volumes=[{"name": "data", "emptyDir": {}}],
    )
    p = kproject.write(objects=[tick], images=[Image("tick", kproject.ref("tick"))])
    running = p.start("up")
    running.wait_line(r"tick.*run-1\b", timeout=HANG)
    running.wait_line(r"tick.*run-2\b", timeout=HANG)
    assert running.interrupt() == 130, running.text


# ------------------------------------------------------------------------------------------- safety


class Recorder:
    """A TCP listener that records every connection made to it (and never answers)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self.sock.close()


def safety_project(tmp_path: Path, name: str, server: str) -> tuple[Path, dict[str, str]]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": name,
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "clusters": [{"name": name, "cluster": {"server": server}}],
                "users": [{"name": name, "user": {"token": "x"}}],
            }
        )
    )
    root = write_project(
        tmp_path / "proj", "safety", objects=[deployment("web", [container("web", "busybox", ["true"])])]
    )
    return root, {"KUBECONFIG": str(kubeconfig)}


def host_address() -> str:
    """A non-loopback address of this machine (so the context does not count as local)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address: str = s.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.skip("this machine has no non-loopback address to pose as a remote cluster")
    return address


@pytest.mark.parametrize("command", ["ci", "up", "down"])
def test_refused_context_exits_2_before_any_connection(tmp_path: Path, command: str) -> None:
    recorder = Recorder()
    try:
        root, env = safety_project(tmp_path, "prod-cluster", f"https://{host_address()}:{recorder.port}")
        args = [command] + (["--no-watch"] if command == "up" else [])
        result = run_devloop(root, *args, target="kubernetes", env=env)
        time.sleep(0.3)  # let the recorder accept anything that might have been attempted
        assert result.returncode == 2, output(result)
        assert "prod-cluster" in result.stderr and "allow_contexts" in result.stderr
        assert recorder.connections == 0
    finally:
        recorder.close()


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_unreachable_cluster_fails_fast_naming_context_and_server(tmp_path: Path, kind: str) -> None:
    recorder = Recorder() if kind == "silent" else None
    port = recorder.port if recorder else free_port()
    try:
        server = f"https://127.0.0.1:{port}"
        root, env = safety_project(tmp_path, "kind-gone", server)
        started = time.monotonic()
        result = run_devloop(root, "ci", target="kubernetes", env=env)
        seconds = time.monotonic() - started
        assert result.returncode == 1, output(result)
        assert "kind-gone" in result.stderr and server in result.stderr, output(result)
        print(f"unreachable ({kind}) cluster reported after {seconds:.1f} s")
    finally:
        if recorder:
            recorder.close()


def test_live_update_without_tar_in_the_image_says_so(kproject: KubeProject) -> None:
    p = kproject
    app = container("web", p.ref("web"), ["httpd", "-f", "-p", "8080", "-h", "/www"], readinessProbe=dict(HTTP_READY))
    p.write(
        objects=[deployment("web", [app])],
        images=[
            Image(
                "web",
                p.ref("web"),
                lines=["COPY www /www", "RUN rm /bin/tar"],
                files={"www/index.html": "v1\n"},
                settings={"live_update": {"sync": [{"src": "www", "dest": "/www"}]}},
            )
        ],
        resources={"web": {"readiness_timeout": 60}},
    )
    running = p.start("up")
    running.wait_line(r"web.*ready", timeout=HANG)
    (p.root / "web" / "www" / "index.html").write_text("v2\n")
    running.wait_line(r"needs `tar` in the image", timeout=HANG)
