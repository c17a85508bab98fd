"""End to end: `devloop up`, `ci` and `down` as a user runs them (a real process) against the real Docker engine.

Every test writes its own small project into tmp_path (busybox images built FROM scratch, a unique project name)
and runs `devloop down --prune-images` for it at the end.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import images
from tests.support.e2e import (
    PROJECT_LABEL,
    Project,
    descendants,
    get,
    output,
    poll,
    processes_mentioning,
    run_devloop,
    session_members,
    still_running,
    summary,
    web_project,
)
from tests.support.projects import (
    Image,
    container,
    deployment,
    free_port,
    httpd,
    job,
    service,
    write_project,
)

# --------------------------------------------------------------------------------------------- ci and down


def test_ci_deploys_and_down_removes_everything(project: Project) -> None:
    web_project(project)
    result = project.run("ci")
    assert result.returncode == 0, output(result)
    assert "devloop ci: all resources ready" in result.stdout
    assert re.search(r"^\s+web\s+ready", summary(result), re.M), output(result)

    containers = project.containers("web")
    assert containers and all(c.status == "running" for c in containers)
    assert all(c.labels[PROJECT_LABEL] == project.name for c in containers)
    app = [c for c in containers if c.labels.get("devloop.dev/container") == "web"]
    assert len(app) == 1
    code, env_out = app[0].exec_run(["/bin/env"])
    assert code == 0 and "GREETING=hello from the configmap" in env_out.decode().splitlines()

    assert any(item.startswith("network ") for item in project.leftovers())
    down = project.run("down")
    assert down.returncode == 0, output(down)
    assert project.leftovers() == []


def test_down_leaves_containers_a_user_started_from_a_built_image(
    project: Project, docker_client: Any, test_labels: dict[str, str], tmp_path: Path
) -> None:
    web_project(project)
    result = project.run("ci")
    assert result.returncode == 0, output(result)
    [app] = [c for c in project.containers("web") if c.labels.get("devloop.dev/container") == "web"]
    built = app.attrs["Config"]["Image"]
    # an image built by an earlier devloop: it carried the labels of deployed objects
    old_labels = {PROJECT_LABEL: project.name, "app.kubernetes.io/managed-by": "devloop", **test_labels}
    context = images.write_busybox_context(tmp_path / "old-image")
    old, _ = docker_client.images.build(path=str(context), labels=old_labels, rm=True, forcerm=True)
    by_hand = [
        docker_client.containers.run(image, ["sh", "-c", "sleep 300"], detach=True, labels=test_labels)
        for image in (built, old.id)
    ]
    try:
        down = project.run("down")
        assert down.returncode == 0, output(down)
        for container in by_hand:
            container.reload()
            assert container.status == "running", f"down removed {container.name}, which the user started"
        assert not [c.name for c in project.containers() if "devloop.dev/role" in c.labels], output(down)
        # --prune-images finds the images of this version and of earlier ones, and says why it keeps them
        prune = project.run("down", "--prune-images")
        assert prune.returncode == 0, output(prune)
        kept = [line for line in prune.stderr.splitlines() if "kept: " in line and "used by running container" in line]
        assert len(kept) == 2, output(prune)
        assert "removed 0 object(s)" in prune.stdout, output(prune)
    finally:
        for container in by_hand:
            container.remove(force=True)
        docker_client.images.remove(old.id, force=True)


def test_build_builds_each_image_once_and_names_an_unknown_one(project: Project) -> None:
    web_project(project)
    first = project.run("build")
    assert first.returncode == 0, output(first)
    (line,) = [text for text in first.stdout.splitlines() if ":devloop-" in text]
    reference, state = line.split("  ", 1)
    assert reference.startswith(f"{project.ref('web')}:devloop-") and state.startswith("(built, "), line
    image_id = project.client.images.get(reference).id  # the image exists in the engine under that tag

    again = project.run("build", project.ref("web"))
    assert again.returncode == 0, output(again)
    assert f"{reference}  (up to date, " in again.stdout, output(again)
    assert project.client.images.get(reference).id == image_id

    unknown = project.run("build", project.ref("wbe"))
    assert unknown.returncode == 2, output(unknown)
    assert f"no image `{project.ref('wbe')}` in devloop.yaml. Did you mean `{project.ref('web')}`?" in unknown.stderr


def test_second_ci_builds_and_replaces_nothing(project: Project) -> None:
    web_project(project)
    first = project.run("ci")
    assert first.returncode == 0, output(first)
    assert re.search(r"web\s+│ ready \(build [\d.]+ s", first.stdout), output(first)
    image_ids = {i.id for i in project.client.images.list(name=project.ref("web"))}
    container_ids = {c.id for c in project.containers()}

    second = project.run("ci")
    assert second.returncode == 0, output(second)
    # the first run shows the builder's output and "ready (build ...)"; the second builds and replaces nothing
    assert "writing image" not in second.stdout and "(build " not in second.stdout, output(second)
    assert re.search(r"web\s+│ ready \(deploy [\d.]+ s, unchanged\)", second.stdout), output(second)
    assert {i.id for i in project.client.images.list(name=project.ref("web"))} == image_ids
    assert {c.id for c in project.containers()} == container_ids


def test_service_names_resolve_and_depends_on_orders(project: Project) -> None:
    ref = project.ref("app")
    wait_for_api = container("wait-api", ref, ["sh", "-c", "wget -q -O- http://api:8080/ | grep api-answer"])
    project.write(
        objects=[
            deployment("api", [httpd("api", ref)]),
            service("api", 8080),
            deployment("web", [httpd("web", ref)], init_containers=[wait_for_api]),
        ],
        images=[Image("app", ref, lines=["COPY www /www"], files={"www/index.html": "api-answer\n"})],
        resources={"web": {"depends_on": ["api"], "readiness_timeout": 30}, "api": {"readiness_timeout": 30}},
    )
    result = project.run("ci")
    assert result.returncode == 0, output(result)
    lines = result.stdout.splitlines()
    api_ready = next(i for i, line in enumerate(lines) if re.match(r"api\s+│ ready", line))
    web_deploying = next(i for i, line in enumerate(lines) if re.match(r"web\s+│ deploying", line))
    assert api_ready < web_deploying, output(result)
    assert project.resources_running() == {"api", "web"}


# --------------------------------------------------------------------------------------------- failures


def test_broken_build_fails_naming_resource_and_step(project: Project) -> None:
    project.write(
        objects=[
            deployment("web", [httpd("web", project.ref("web"))]),
            deployment("slow", [httpd("slow", project.ref("slow"))]),
        ],
        images=[
            Image("web", project.ref("web"), lines=["RUN echo about to fail && false"]),
            Image("slow", project.ref("slow"), lines=["RUN sleep 60"]),
        ],
    )
    result = project.run("ci")
    assert result.returncode == 1, output(result)
    text = summary(result)
    line = next((ln for ln in text.splitlines() if re.match(r"\s+web\s+failed: ", ln)), "")
    assert "build" in line and "RUN echo about to fail && false" in line, output(result)
    # the other build was stopped when ci failed: the summary says so, not "building"
    assert re.search(r"^\s+slow\s+cancelled while building$", text, re.M), output(result)
    # the reason goes to stderr too, one sentence per failed resource, and never "save again"
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("devloop: resource web failed: build of image"), output(result)
    assert "RUN echo about to fail && false" in errors[0], output(result)
    assert "save again" not in result.stdout + result.stderr
    assert project.containers() == []


def test_crash_loop_fails_with_exit_code_and_last_log_line(project: Project) -> None:
    ref = project.ref("app")
    project.write(
        objects=[deployment("crasher", [container("crasher", ref, ["sh", "-c", "echo dying; exit 3"])])],
        images=[Image("app", ref)],
    )
    result = project.run("ci")
    assert result.returncode == 1, output(result)
    text = summary(result)
    line = next((ln for ln in text.splitlines() if re.match(r"\s+crasher\s+failed", ln)), "")
    assert "crash loop" in line and re.search(r"\bcode 3\b", line), output(result)
    # the failure shows the container's last log lines (indented under the failed state)
    assert re.search(r"^crasher\s+│\s{3}dying$", result.stdout, re.M), output(result)


COLOURED = r"printf '\033[1;32mmigrating\033[0m 10%%\r\033[1;32mmigrating\033[0m 100%%\n'"


@pytest.mark.parametrize(("exit_code", "expected"), [(0, 0), (1, 1)])
def test_job_outcome_is_the_ci_outcome(project: Project, exit_code: int, expected: int) -> None:
    ref = project.ref("app")
    project.write(
        # coloured as for a terminal, with a progress bar's carriage return
        objects=[job("migrate", [container("migrate", ref, ["sh", "-c", f"{COLOURED}; exit {exit_code}"])])],
        images=[Image("app", ref)],
    )
    result = project.run("ci")
    assert result.returncode == expected, output(result)
    state = "completed" if expected == 0 else "failed"
    assert re.search(rf"^\s+migrate\s+{state}", summary(result), re.M), output(result)
    # written to a pipe, the output has no escape sequences or control characters left
    assert re.search(r"^migrate\s+│ migrating 100%$", result.stdout, re.M), output(result)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.stdout + result.stderr), output(result)


@pytest.mark.parametrize("passes", [True, False])
def test_test_stage_gates_the_build(project: Project, passes: bool) -> None:
    ref = project.ref("web")
    cmd = "echo running the tests; true" if passes else "echo running the tests; false"
    project.write(
        objects=[deployment("web", [httpd("web", ref)])],
        images=[
            Image("web", ref, lines=["COPY www /www"], files={"www/index.html": "x"}, settings={"test": {"cmd": cmd}})
        ],
        resources={"web": {"readiness_timeout": 30}},
    )
    result = project.run("ci")
    assert re.search(r"^web\s+│ test: running the tests$", result.stdout, re.M), output(result)
    if passes:
        assert result.returncode == 0, output(result)
        assert project.resources_running() == {"web"}
    else:
        assert result.returncode == 1, output(result)
        line = next((ln for ln in summary(result).splitlines() if re.match(r"\s+web\s+failed", ln)), "")
        assert "test" in line and "false" in line, output(result)
        assert project.containers() == []


def test_readiness_timeout_fails(project: Project) -> None:
    ref = project.ref("web")
    never = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    project.write(
        objects=[deployment("web", [httpd("web", ref, probe=False, readinessProbe=never)])],
        images=[Image("web", ref, lines=["COPY www /www"], files={"www/index.html": "x"})],
        resources={"web": {"readiness_timeout": 3}},
    )
    result = project.run("ci")
    assert result.returncode == 1, output(result)
    assert re.search(r"^\s+web\s+failed: not ready after 3 s", summary(result), re.M), output(result)


# --------------------------------------------------------------------------------------------- up


def test_up_syncs_rebuilds_and_leaves_workloads_on_ctrl_c(project: Project) -> None:
    port = free_port()
    ref = project.ref("web")
    project.write(
        objects=[deployment("web", [httpd("web", ref)]), service("web", 8080)],
        images=[
            Image(
                "web",
                ref,
                lines=["COPY www /www"],
                files={"www/index.html": "version one\n"},
                settings={"live_update": {"sync": [{"src": "www", "dest": "/www"}]}},
            )
        ],
        resources={"web": {"port_forwards": [f"{port}:8080"], "readiness_timeout": 30}},
    )
    url = f"http://127.0.0.1:{port}/"
    tmp = project.root.parent / "tmp"
    tmp.mkdir()
    up = project.start("up", env={"TMPDIR": str(tmp)})
    ready = up.wait_line(r"^web\s+│ ready")
    poll(lambda: get(url) == "version one\n", f"{url} to serve version one")

    # (a) a synced file: copied into the running container, no rebuild
    (project.root / "web" / "www" / "index.html").write_text("version two\n")
    poll(lambda: get(url) == "version two\n", f"{url} to serve version two (live update)")
    synced = up.wait_line(r"^web\s+│ live update of ", after=ready)
    assert not any(re.match(r"web\s+│ building", line) for line in up.lines[ready:synced]), up.text

    # (b) a file outside every sync.src: a full build and redeploy
    with (project.root / "web" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("RUN echo rebuilt > /www/extra.html\n")
    poll(lambda: get(url + "extra.html") == "rebuilt\n", f"{url}extra.html after the rebuild")
    rebuilt = up.wait_line(r"^web\s+│ ready \(build ", after=synced)
    assert any("RUN echo rebuilt" in line for line in up.lines[synced:rebuilt]), up.text

    before = descendants(up.proc.pid)
    code = up.interrupt()
    assert code == 130, up.text
    assert project.resources_running() == {"web"}, "up must leave the workloads running"
    assert get(url) is None, "the port forward ends with devloop"
    assert still_running(before) == {}, f"left behind: {still_running(before)}"
    assert session_members(up.proc.pid) == {}
    assert processes_mentioning(ref) == {}
    assert list(tmp.iterdir()) == []


def test_ctrl_c_during_a_build_stops_it_and_cleans_up(project: Project) -> None:
    ref = project.ref("slow")
    project.write(
        objects=[deployment("slow", [httpd("slow", ref)])],
        images=[Image("slow", ref, lines=[f"RUN echo {project.name} && sleep 30 && echo slept"])],
    )
    tmp = project.root.parent / "tmp"  # devloop's own temp folder: what is left in it is devloop's
    tmp.mkdir()
    ci = project.start("ci", env={"TMPDIR": str(tmp)})
    ci.wait_line(rf"^slow\s+│ #\d+ [\d.]+ {project.name}$")  # the RUN step echoed: it now sleeps
    children = descendants(ci.proc.pid)
    assert any(" build " in desc for desc in children.values()), f"no docker build running: {children}"
    assert [p.name for p in tmp.iterdir() if p.name.startswith("devloop-build-")], "no build folder in use"
    # the build step's shell (in the engine's build container) names the project: `sh -c "echo <name> && ..."`
    assert any("sleep 30" in desc for desc in processes_mentioning(project.name).values())

    code = ci.interrupt()
    assert code == 130, ci.text
    assert "devloop ci: interrupted" in ci.text
    poll(lambda: not still_running(children), f"the build processes {still_running(children)} to end", 10)
    poll(lambda: not processes_mentioning(project.name), f"{processes_mentioning(project.name)} to end", 10)
    assert session_members(ci.proc.pid) == {}
    assert list(tmp.iterdir()) == []
    assert project.containers() == []


def test_up_named_resource_deploys_it_and_its_dependencies(project: Project) -> None:
    ref = project.ref("app")
    project.write(
        objects=[
            deployment("api", [httpd("api", ref)]),
            deployment("web", [httpd("web", ref)]),
            deployment("other", [httpd("other", ref)]),
        ],
        images=[Image("app", ref, lines=["COPY www /www"], files={"www/index.html": "x"})],
        resources={"web": {"depends_on": ["api"]}},
    )
    up = project.start("up", "web")
    up.wait_line(r"^web\s+│ ready")
    assert up.interrupt() == 130, up.text
    assert project.resources_running() == {"api", "web"}
    assert not re.search(r"^other\s+│", up.text, re.M), up.text


# --------------------------------------------------------------------------------------------- no engine


def minimal_project(root: Path) -> Path:
    return write_project(root, "no-engine", objects=[deployment("web", [container("web", "busybox")])])


@pytest.mark.parametrize("host", ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"])
def test_unreachable_engine_is_one_sentence_and_exit_1(tmp_path: Path, host: str) -> None:
    """`ci`/`up` with the docker target and `build` say the same sentence, without the client's exception."""
    objects = [deployment("web", [container("web", "no-engine/app")])]
    root = write_project(tmp_path / "p", "no-engine", objects=objects, images=[Image("app", "no-engine/app")])
    sentences = set()
    for command in ("ci", "build"):
        result = run_devloop(root, command, env={"DOCKER_HOST": host})
        assert result.returncode == 1, output(result)
        assert "Traceback" not in result.stderr and "Exception" not in result.stderr, output(result)
        assert len(result.stderr.strip().splitlines()) == 1, output(result)
        assert f"the Docker engine at {host} does not answer" in result.stderr, output(result)
        assert "DOCKER_HOST" in result.stderr and "start" in result.stderr, output(result)
        sentences.add(result.stderr.strip())
    assert len(sentences) == 1, sentences


def test_auto_target_without_engine_or_cluster_is_exit_2(tmp_path: Path) -> None:
    root = minimal_project(tmp_path / "p")
    result = run_devloop(
        root, "ci", target="auto", env={"DOCKER_HOST": "unix:///nonexistent.sock", "KUBECONFIG": "/nonexistent"}
    )
    assert result.returncode == 2, output(result)
    assert "Traceback" not in result.stderr
    assert "Kubernetes" in result.stderr and "Docker" in result.stderr, output(result)
    assert len(result.stderr.strip().splitlines()) == 1, output(result)
