"""The command line as a user runs it: a real process, exit codes, one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "projects" / "two-services"


def devloop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_help_lists_commands() -> None:
    result = devloop("--help")
    assert result.returncode == 0
    for command in ("plan", "build", "up", "ci", "down"):
        assert command in result.stdout


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
