"""Pure parts of the docker target: pod plans, archives for live update, the pause executable."""

from __future__ import annotations

import io
import os
import struct
import tarfile
from pathlib import Path

import pytest

from devloop.errors import DeployError
from devloop.targets.archives import UnsafePathError, build_archive, container_path
from devloop.targets.base import FileCopy
from devloop.targets.docker.pause import pause_elf
from devloop.targets.docker.pods import FieldRef, plan_resource
from tests.support.docker_target import configmap, deployment, job, obj, service


def test_plan_containers_env_files_and_hash() -> None:
    cm = configmap("cfg", {"a": "1", "b": "2"})
    web = deployment(
        "web",
        [
            {
                "name": "main",
                "image": "img:1",
                "command": ["run"],
                "args": ["--x=$(A)"],
                "workingDir": "/w",
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
                    {"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                ],
                "volumeMounts": [
                    {"name": "c", "mountPath": "/etc/c"},
                    {"name": "one", "mountPath": "/etc/one.conf", "subPath": "one.conf"},
                ],
                "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "1"}},
                "securityContext": {"runAsUser": 1000},
            }
        ],
        volumes=[
            {"name": "c", "configMap": {"name": "cfg"}},
            {"name": "one", "configMap": {"name": "cfg", "items": [{"key": "b", "path": "one.conf"}]}},
        ],
        replicas=3,
    )
    plan = plan_resource("web", web, [web, cm])
    (c,) = plan.containers
    assert c.entrypoint == ("run",) and c.command == ("--x=1",) and c.working_dir == "/w"
    assert dict(c.env) == {"A": "1", "P": FieldRef("status.podIP")}
    assert {f.path: f.data for f in c.files} == {"/etc/c/a": b"1", "/etc/c/b": b"2", "/etc/one.conf": b"2"}
    assert c.mem_limit == 64 * 2**20 and c.nano_cpus == 500_000_000 and c.user == "1000"
    assert plan.replicas == 3 and plan.warnings == ()
    assert plan.pod_name(2) == f"web-{plan.spec_hash[:6]}-2"
    # config data takes part in the hash; an unrelated object does not
    assert plan_resource("web", web, [web, cm, configmap("other", {})]).spec_hash == plan.spec_hash
    assert plan_resource("web", web, [web, configmap("cfg", {"a": "1", "b": "3"})]).spec_hash != plan.spec_hash


def test_plan_warns_once_naming_unsupported_fields() -> None:
    web = deployment(
        "web",
        [{"name": "main", "image": "i", "livenessProbe": {}, "lifecycle": {}}],
        hostNetwork=True,
        volumes=[{"name": "p", "projected": {}}],
    )
    plan = plan_resource("web", web, [web])
    (warning,) = plan.warnings
    for name in ("livenessProbe", "lifecycle", "spec.hostNetwork", "spec.volumes[p].projected"):
        assert name in warning


def test_service_aliases_and_port_mismatch_warning() -> None:
    web = deployment("web", [{"name": "main", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}])
    same = service("api", {"app": "web"}, 8080)
    other = service("front", {"app": "web"}, 80, "http")
    unrelated = service("db", {"app": "db"}, 5432)
    plan = plan_resource("web", web, [web, same, other, unrelated], default_namespace="dev")
    assert {"api", "api.dev", "api.dev.svc.cluster.local", "front"} <= set(plan.aliases)
    assert "db" not in plan.aliases
    (warning,) = plan.warnings
    assert "Service front" in warning and "port 80" in warning and "8080" in warning


def test_plan_missing_reference_is_a_clear_error() -> None:
    web = deployment(
        "web",
        [
            {
                "name": "main",
                "image": "i",
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
            }
        ],
    )
    with pytest.raises(DeployError, match="Secret nope"):
        plan_resource("web", web, [web])
    optional = deployment(
        "web",
        [
            {
                "name": "main",
                "image": "i",
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}],
            }
        ],
    )
    assert plan_resource("web", optional, [optional]).containers[0].env == ()


def test_jobs_and_cronjobs() -> None:
    j = job("j", [{"name": "m", "image": "i"}], completions=3, parallelism=5, backoffLimit=2)
    plan = plan_resource("j", j, [j])
    assert (plan.replicas, plan.parallelism, plan.backoff_limit, plan.restart_policy) == (3, 3, 2, "Never")
    cron = obj(
        {
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {
                "schedule": "*/5 * * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "m", "image": "i"}]}
                        }
                    }
                },
            },
        }
    )
    plan = plan_resource("c", cron, [cron])
    assert plan.is_job and plan.restart_policy == "OnFailure"
    assert any("schedule" in w and "runs once" in w for w in plan.warnings)


def test_archive_is_safe_by_construction(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("x")
    os.symlink("../../../../etc/shadow", src / "d" / "evil")
    data = build_archive([FileCopy(str(src), "/srv/app/")], uid=5, gid=6)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["srv/app", "srv/app/d", "srv/app/d/evil", "srv/app/d/f"]
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
    evil = members[2]
    assert evil.issym() and evil.linkname == "../../../../etc/shadow"
    assert {(m.uid, m.gid) for m in members} == {(5, 6)}
    for bad in ("relative", "/", "//", "/a/../.."):
        with pytest.raises(UnsafePathError):
            container_path(bad)
    assert container_path("/a/./b/../c/") == "/a/c"


@pytest.mark.parametrize(("arch", "machine"), [("amd64", 0x3E), ("arm64", 0xB7)])
def test_pause_elf_headers(arch: str, machine: int) -> None:
    elf = pause_elf(arch)
    assert elf[:4] == b"\x7fELF" and len(elf) < 400
    e_type, e_machine = struct.unpack_from("<HH", elf, 16)
    assert (e_type, e_machine) == (2, machine)
    (entry,) = struct.unpack_from("<Q", elf, 24)
    filesz, memsz = struct.unpack_from("<QQ", elf, 64 + 32)
    assert filesz == memsz == len(elf) and entry == 0x400000 + 120


def test_probe_retries_quickly_until_first_ready_then_keeps_its_period() -> None:
    from devloop.targets.docker.probes import ProbeState

    probe = {"periodSeconds": 5, "failureThreshold": 3}
    state = ProbeState(due=0.0)
    state.record(False, probe, now=10.0)  # the server is not listening yet
    assert state.due == pytest.approx(10.2)
    state.record(True, probe, now=10.2)
    assert state.ready and state.due == pytest.approx(15.2)
    state.record(False, probe, now=15.2)  # once ready, failures follow the period (Kubernetes)
    assert state.due == pytest.approx(20.2)


def test_log_follower_keeps_out_of_order_lines_and_skips_only_replays() -> None:
    """stdout and stderr lines of a live stream may carry interleaved stamps: none is dropped; after a
    reconnect, lines up to the last one already emitted are replays and are skipped."""
    from devloop.targets.docker.logs import _Follower

    seen: list[str] = []
    follower = _Follower(api=None, cid="c" * 12, source="main", emit=lambda source, text: seen.append(text))
    follower._line("2026-01-01T00:00:01.000000002Z out")
    follower._line("2026-01-01T00:00:01.000000001Z err (stamped a little earlier)")
    follower._line("2026-01-01T00:00:01.000000003Z out again")
    assert seen == ["out", "err (stamped a little earlier)", "out again"]
    follower.resume_after = follower.last  # what _run does on a reconnect
    follower._line("2026-01-01T00:00:01.000000002Z out")  # replayed
    follower._line("2026-01-01T00:00:01.000000004Z new")
    assert seen[-1] == "new" and seen.count("out") == 1


def test_archive_skips_what_vanished_after_planning(tmp_path: Path) -> None:
    from devloop.targets.archives import plan_archive, stream_archive

    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.txt").write_text("keep\n")
    (src / "gone.txt").write_text("gone\n")
    (src / "link").symlink_to("keep.txt")
    members = plan_archive([FileCopy(str(src), "/app")])
    (src / "gone.txt").unlink()
    (src / "keep.txt").write_text("longer than before\n")  # grew after planning: its current size is sent
    data = b"".join(stream_archive(members, uid=3, gid=4))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert names == ["app", "app/keep.txt", "app/link"]
        keep = tar.extractfile("app/keep.txt")
        assert keep is not None and keep.read() == b"longer than before\n"
        assert tar.getmember("app/link").linkname == "keep.txt"
        assert {(m.uid, m.gid) for m in tar.getmembers()} == {(3, 4)}
