"""End to end on the docker target (issue 14): a named port forward, a development entrypoint, an image built
FROM another built image, and a profile shown by `plan`. Real `devloop` processes, real engine."""

from __future__ import annotations

from devloop.targets.docker.labels import ROLE as ROLE_LABEL
from tests.support.e2e import Project, get, output, poll
from tests.support.projects import HTTP_READY, Image, container, deployment, free_port


def test_a_named_port_forward_reaches_the_container_port_of_that_name(project: Project) -> None:
    port = free_port()
    ref = project.ref("web")
    serve = ["httpd", "-f", "-p", "8081", "-h", "/www"]
    probe = {**HTTP_READY, "httpGet": {"path": "/", "port": "web-http"}}
    project.write(
        objects=[
            deployment(
                "web",
                [
                    container(
                        "web", ref, serve, ports=[{"name": "web-http", "containerPort": 8081}], readinessProbe=probe
                    )
                ],
            )
        ],
        images=[Image("web", ref, lines=["COPY www /www"], files={"www/index.html": "named port\n"})],
        resources={"web": {"port_forwards": [f"{port}:web-http"], "readiness_timeout": 60}},
    )
    plan = project.run("plan")
    assert plan.returncode == 0, output(plan)
    assert f"127.0.0.1:{port} -> 8081 (web-http)" in plan.stdout, output(plan)
    up = project.start("up", "--no-web")
    try:
        up.wait_line(r"^web\s+│ ready", timeout=120)
        url = f"http://127.0.0.1:{port}/"
        poll(lambda: get(url) == "named port\n", f"{url} to answer through the named port forward", timeout=60)
    finally:
        up.interrupt()


def test_an_image_entrypoint_replaces_the_command_of_its_containers_in_up_not_in_ci(project: Project) -> None:
    ref = project.ref("app")
    say = ["/bin/sh", "-c", "echo said by the manifest; exec sleep 3600"]
    project.write(
        objects=[deployment("app", [container("app", ref, say, args=["ignored"])])],
        images=[Image("app", ref, settings={"entrypoint": "echo said by the entrypoint $((40 + 2)); exec sleep 3600"})],
        resources={"app": {"readiness_timeout": 60}},
    )
    up = project.start("up", "--no-web")
    try:
        up.wait_line(r"^app\s+│ said by the entrypoint 42", timeout=120)
        assert "said by the manifest" not in up.text, up.text
    finally:
        up.interrupt()
    # ci checks the image's own command, as production runs it: the container is replaced and says the manifest's
    ci = project.run("ci")
    assert ci.returncode == 0, output(ci)

    def said() -> str:
        running = [c for c in project.containers("app") if c.status == "running" and c.labels.get(ROLE_LABEL) == "app"]
        return "".join(c.logs().decode() for c in running)

    poll(lambda: "said by the manifest" in said(), "the container started by ci to run the manifest's command", 60)
    assert "said by the entrypoint" not in said()


def test_an_image_built_from_another_rebuilds_when_its_base_changes(project: Project) -> None:
    base, app = project.ref("base"), project.ref("app")
    say = ["/bin/sh", "-c", "echo base says $(cat /base.txt), app says $(cat /app.txt); exec sleep 3600"]
    project.write(
        objects=[deployment("app", [container("app", app, say)])],
        images=[
            Image("base", base, lines=["COPY base.txt /base.txt"], files={"base.txt": "one"}),
            Image("app", app, settings={"requires": [{"image": base, "alias": "BASE"}]}),
        ],
        resources={"app": {"readiness_timeout": 60}},
    )
    (project.root / "app" / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY app.txt /app.txt\n")
    (project.root / "app" / "app.txt").write_text("hello")
    plan = project.run("plan")
    assert plan.returncode == 0 and "no container in the manifests uses" not in plan.stderr, output(plan)
    up = project.start("up", "--no-web")
    try:
        first = up.wait_line(r"^app\s+│ base says one, app says hello", timeout=120)
        (project.root / "base" / "base.txt").write_text("two")
        up.wait_line(r"^app\s+│ base says two, app says hello", after=first + 1, timeout=120)
    finally:
        up.interrupt()


def test_plan_shows_the_profile_chosen_with_the_option_or_the_environment(project: Project) -> None:
    ref = project.ref("web")
    project.write(
        objects=[deployment("web", [container("web", ref, ["sleep", "3600"])])],
        images=[Image("web", ref)],
        resources={"web": {"labels": ["dev"]}},
        profiles={"prod": {"resources": {"web": {"labels": ["prod"]}}}, "ci": {}},
    )
    plain = project.run("plan")
    assert plain.returncode == 0, output(plain)
    assert "profile: none   (profiles: prod, ci)" in plain.stdout and "labels: dev" in plain.stdout, output(plain)
    chosen = project.run("plan", "--profile", "prod")
    assert chosen.returncode == 0, output(chosen)
    assert "profile: prod   (profiles: prod, ci)" in chosen.stdout and "labels: prod" in chosen.stdout, output(chosen)
    by_env = project.run("plan", "-o", "json", env={"DEVLOOP_PROFILE": "prod"})
    assert by_env.returncode == 0 and '"profile": "prod"' in by_env.stdout, output(by_env)
    unknown = project.run("plan", "--profile", "staging")
    assert unknown.returncode == 2, output(unknown)
    assert unknown.stderr.startswith("devloop: devloop.yaml:"), output(unknown)
    assert 'there is no profile "staging" (--profile)' in unknown.stderr and "are: prod, ci" in unknown.stderr
