"""The command line as a user runs it: a real process, exit codes, one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "projects" / "two-services"


def devloop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def devloop_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], capture_output=True, text=True, env=env, timeout=60)


def test_help_lists_commands_and_exit_codes() -> None:
    result = devloop("--help")
    assert result.returncode == 0
    for command in ("plan", "build", "up", "ci", "down"):
        assert command in result.stdout
    text = " ".join(result.stdout.split())
    assert "130 interrupted (Ctrl-C), 143 stopped by SIGTERM, 129 stopped by SIGHUP" in text, result.stdout


def test_plan_text_and_json() -> None:
    text = devloop("plan", "-f", str(DATA))
    assert text.returncode == 0, text.stderr
    assert "api" in text.stdout and "Deployment" in text.stdout
    data = json.loads(devloop("-f", str(DATA), "plan", "-o", "json").stdout)
    assert [r["name"] for r in data["resources"]] == ["api", "web"]


def test_plan_from_the_project_folder() -> None:
    result = devloop("plan", cwd=DATA)
    assert result.returncode == 0, result.stderr


def test_broken_config_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("version: 1\nimages:\n  - ref: shop/api\n    contxt: api\n")
    result = devloop("plan", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("devloop: devloop.yaml:4:5: images[0].contxt")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    verbose = devloop("-v", "plan", cwd=tmp_path)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_missing_config_says_where_it_looked(tmp_path: Path) -> None:
    result = devloop("plan", cwd=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path) in result.stderr and "Traceback" not in result.stderr


def test_unknown_resource_for_up_is_exit_2() -> None:
    result = devloop("-f", str(DATA), "--target", "docker", "up", "nope", "--no-watch")
    assert result.returncode == 2, result.stderr
    assert "no resource named `nope`" in result.stderr


def test_bad_timeout_is_a_usage_error() -> None:
    result = devloop("-f", str(DATA), "ci", "--timeout", "soon")
    assert result.returncode == 2
    assert "--timeout" in result.stderr


def test_kubernetes_target_is_refused_clearly() -> None:
    result = devloop("-f", str(DATA), "--target", "kubernetes", "ci")
    assert result.returncode == 2
    assert "--target docker" in result.stderr


def test_build_runs_the_test_stage_first(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "k8s.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: t/app}]}\n"
    )
    (tmp_path / "devloop.yaml").write_text(
        "version: 1\nmanifests: [k8s.yaml]\nimages:\n  - ref: t/app\n    test: {cmd: 'echo checking; exit 3'}\n"
    )
    result = devloop("build", cwd=tmp_path)
    assert result.returncode == 1
    assert "t/app │ test: checking" in result.stderr
    assert "test stage of image t/app failed: `echo checking; exit 3` exited with 3" in result.stderr


def test_version() -> None:
    from devloop import __version__

    result = devloop("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"devloop {__version__}\n"
    from importlib.metadata import version

    assert version("devloop") == __version__  # the package's version is devloop.__version__ (pyproject.toml)


def test_help_names_values_without_python_types() -> None:
    from devloop.cli import app

    commands = ["", *(c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands)]
    for command in commands:
        result = devloop(*([command] if command else []), "--help")
        assert result.returncode == 0, result.stderr
        for python_type in ("<list", "<str>", "<int", "<float>", "range>", "<bool>"):
            assert python_type not in result.stdout, f"`devloop {command} --help` shows {python_type}:\n{result.stdout}"


def test_shell_completion_is_offered_and_completes() -> None:
    help_text = devloop("--help").stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
    script = subprocess.run(
        [sys.executable, "-m", "devloop", "--show-completion", "bash"], capture_output=True, text=True, timeout=60
    )
    assert script.returncode == 0 and "_devloop_completion" in script.stdout, script.stderr
    for words, cword, expected in (("devloop pl", 1, "plan"), ("devloop --target d", 2, "docker")):
        env = {**os.environ, "_DEVLOOP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        done = subprocess.run([sys.executable, "-m", "devloop"], capture_output=True, text=True, env=env, timeout=60)
        assert done.stdout.split() == [expected], (words, done.stdout, done.stderr)


def test_bad_target_is_one_sentence_naming_the_allowed_values() -> None:
    for args, env, source in (
        (("--target", "foo", "plan"), {}, "--target"),
        (("--target", "foo", "ci"), {}, "--target"),
        (("build", "--target", "foo"), {}, "--target"),
        (("--target", "foo", "status"), {}, "--target"),
        (("plan",), {"DEVLOOP_TARGET": "foo"}, "DEVLOOP_TARGET"),
        (("ci",), {"DEVLOOP_TARGET": "foo"}, "DEVLOOP_TARGET"),
    ):
        result = devloop_env({**os.environ, **env}, "-f", str(DATA), *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"devloop: unknown target `foo` ({source}): expected auto, kubernetes or docker.\n"


def test_plan_prints_the_resolved_target() -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock", "KUBECONFIG": "/nonexistent"}
    for target, expected in (
        ("docker", "target: docker, none usable now: the Docker engine at unix:///nonexistent.sock does not answer"),
        ("auto", "target: auto, none usable now: no target available"),
    ):
        result = devloop_env(env, "-f", str(DATA), "--target", target, "plan", "-o", "json")
        assert result.returncode == 0, result.stderr
        resolved = json.loads(result.stdout)["resolved_target"]
        assert resolved["choice"] == target and resolved["name"] is None, resolved
        text = devloop_env(env, "-f", str(DATA), "--target", target, "plan")
        assert expected in " ".join(text.stdout.split()), text.stdout


def test_control_characters_from_user_input_are_escaped(tmp_path: Path) -> None:
    # a key that would clear the terminal and start a new line of its own
    (tmp_path / "devloop.yaml").write_text('version: 1\n"\\e[2J\\nfake: line": 1\n')
    result = devloop("plan", cwd=tmp_path)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown key `\\x1b[2J\\nfake: line`" in result.stderr


def test_a_manifest_kubernetes_would_refuse_fails_plan_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("version: 1\nname: shop\nmanifests: [k8s/*.yaml]\n")
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n"
        "      containers:\n        api: {image: shop/api}\n"
    )
    result = devloop("plan", cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith(
        "devloop: k8s/app.yaml:8:9: spec.template.spec.containers: the Deployment api: expected a list of containers"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def _warning_project(root: Path) -> Path:
    (root / "k8s").mkdir(parents=True)
    (root / "devloop.yaml").write_text(
        "version: 1\nname: warn\nmanifests: [k8s/*.yaml]\nimages:\n  - ref: warn/unused\n"
    )
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "k8s" / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n"
        "      containers:\n        - name: web\n          image: busybox\n"
        "          livenessProbe: {tcpSocket: {port: 8080}}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n"
        "  ports: [{port: 80, targetPort: 8080}]\n"
    )
    return root


def test_plan_prints_each_warning_once_with_the_docker_targets_own(tmp_path: Path) -> None:
    import os

    root = _warning_project(tmp_path / "p")
    env = {**os.environ, "DEVLOOP_TARGET": "docker"}
    result = devloop_env(env, "-f", str(root), "plan")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # before: every warning on stderr, and again in the plan
    assert result.stdout.count("no container in the manifests uses the image warn/unused") == 1, result.stdout
    flat = " ".join(result.stdout.split())
    assert "livenessProbe" in flat and "cannot remap ports" in flat, result.stdout
    data = json.loads(devloop_env(env, "-f", str(root), "plan", "-o", "json").stdout)
    assert any("livenessProbe" in w for w in data["warnings"]), data["warnings"]
    assert sum("warn/unused" in w for w in data["warnings"]) == 1


def test_plan_for_the_kubernetes_target_leaves_the_docker_warnings_out(tmp_path: Path) -> None:
    import os

    root = _warning_project(tmp_path / "p")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-x\n"
        "contexts: [{name: kind-x, context: {cluster: x, user: x}}]\n"
        "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: x, user: {token: t}}]\n"
    )
    env = {**os.environ, "DEVLOOP_TARGET": "kubernetes", "KUBECONFIG": str(kubeconfig)}
    data = json.loads(devloop_env(env, "-f", str(root), "plan", "-o", "json").stdout)
    assert data["resolved_target"]["name"] == "kubernetes", data["resolved_target"]
    assert not any("livenessProbe" in w for w in data["warnings"]), data["warnings"]
