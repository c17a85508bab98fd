"""devloop.yaml loading and validation: a full round trip, a table of broken configs, find_config."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from devloop.config import yamlpos
from devloop.config.loader import find_config, load_config, parse_config, sanitize_name
from devloop.config.model import (
    GlobSource,
    HelmSource,
    KustomizeSource,
    ObjectSelector,
    PortForward,
    RunStep,
    SyncRule,
    TestStage,
    WatchSettings,
)
from devloop.errors import ConfigError
from devloop.exit_status import ExitStatus

PROJECT = Path(__file__).parent / "data" / "config" / "project"
CONFIG = PROJECT / "devloop.yaml"


# ------------------------------------------------------------------------------------------ round trip


def test_full_config_round_trip() -> None:
    config = load_config(CONFIG)
    root = PROJECT.resolve()
    assert config.path == CONFIG.absolute()
    assert config.root == CONFIG.absolute().parent
    assert config.version == 1
    assert config.name == "shop"
    assert config.target == "docker"

    assert config.kubernetes.context == "kind-shop"
    assert config.kubernetes.namespace == "shop-dev"
    assert config.kubernetes.allow_contexts == ("dev-gke", "staging")
    assert config.kubernetes.registry == "localhost:5001"
    assert config.docker.network == "shop-net"
    assert config.docker_network == "shop-net"

    glob, kustomize, helm = config.manifests
    assert glob == GlobSource(pattern="k8s/*.yaml", index=0)
    assert kustomize == KustomizeSource(path=root / "k8s" / "overlays" / "dev", index=1)
    assert helm == HelmSource(
        chart=root / "charts" / "shop",
        release="shop-rel",
        namespace="shop-helm",
        values=(root / "charts" / "dev.yaml",),
        set=(("debug", "true"), ("image.tag", "x"), ("replicaCount", "1")),
        index=2,
    )

    api, web = config.images
    assert api.ref == "shop/api"
    assert api.index == 0
    assert api.context == root / "api"
    assert api.dockerfile == root / "api" / "docker" / "dev.Dockerfile"
    assert api.target == "dev"
    assert api.args == (("NAME", "api"), ("PY", "3.10"), ("WORKERS", "4"))  # sorted, numbers as written
    assert api.build_args == {"NAME": "api", "PY": "3.10", "WORKERS": "4"}
    assert api.ignore == ("*.md", "tmp/")
    assert api.test == TestStage(cmd="pytest -q")
    live = api.live_update
    assert live is not None
    assert live.fall_back_on == ("requirements.txt", "docker")
    assert live.sync == (
        SyncRule(src="app", dest="/srv/app"),
        SyncRule(src="requirements.txt", dest="/srv/requirements.txt"),
    )
    assert live.run == (
        RunStep(cmd="pip install -r requirements.txt", trigger=("requirements.txt",)),
        RunStep(cmd=("touch", "/tmp/reload"), trigger=()),
    )
    assert live.restart is True

    # The second image takes every default.
    assert web.ref == "localhost:5001/shop/web"
    assert web.index == 1
    assert web.context == root / "web"
    assert web.dockerfile == root / "web" / "Dockerfile"
    assert (web.target, web.args, web.ignore, web.test, web.live_update) == (None, (), (), None, None)
    assert config.image("shop/api") is api

    assert [name for name, _ in config.resources] == ["api", "db"]
    settings = config.resource_settings("api")
    assert settings.port_forwards == (
        PortForward(8000, 8000),
        PortForward(9000, 8080),
        PortForward(7000, 7000),
        PortForward(3000, 30),  # unquoted 3000:30 is not read as a YAML 1.1 sexagesimal number
    )
    assert settings.depends_on == ("db",)
    assert settings.trigger == "manual"
    assert settings.labels == ("backend",)
    assert settings.readiness_timeout == 12.5
    assert settings.objects == (ObjectSelector("shop-config", "ConfigMap"), ObjectSelector("shop-secret"))
    db = config.resource_settings("db")  # `db:` with no value: every default
    assert (db.trigger, db.readiness_timeout, db.port_forwards) == ("auto", 300.0, ())

    assert config.watch == WatchSettings(ignore=("**/.git/**", "*.pyc"), debounce_ms=200)


def test_positions_point_at_values_and_keys() -> None:
    config = load_config(CONFIG)
    text = CONFIG.read_text().splitlines()
    positions = {key: (line, col) for key, line, col in config.positions}
    line, col = positions["resources.api.depends_on[0]"]
    assert text[line - 1][col - 1 :].startswith("db]")
    line, col = positions["images[0].live_update.sync[0].dest"]
    assert text[line - 1][col - 1 :] == "/srv/app/"
    line, col = positions["images[0].live_update"]  # a block mapping: the key's position
    assert text[line - 1][col - 1 :] == "live_update:"
    line, col = positions["resources.db"]  # an empty value: the key's position
    assert text[line - 1][col - 1 :] == "db:"
    assert config.location("resources.api.depends_on[0]") == f"devloop.yaml:{51}:{18}"
    assert config.location("images[1].context") == "devloop.yaml:46:14"
    # A key path with no position of its own falls back to its parent's.
    assert config.location("images[1].dockerfile") == config.location("images[1]")


def test_minimal_config_takes_every_default(tmp_path: Path) -> None:
    project = tmp_path / "My_Project.v2"
    project.mkdir()
    (project / "devloop.yaml").write_text("version: 1\n")
    config = load_config(project / "devloop.yaml")
    assert config.name == "my-project-v2"
    assert config.target == "auto"
    assert (config.manifests, config.images, config.resources) == ((), (), ())
    assert config.watch == WatchSettings()
    assert config.docker_network == "devloop-my-project-v2"
    assert config.kubernetes.namespace is None


def test_null_sections_count_as_absent() -> None:
    text = "version: 1\nname:\ntarget: ~\nkubernetes:\ndocker:\nmanifests:\nimages:\nresources:\nwatch:\n"
    config = parse_config(text, CONFIG)
    assert (config.name, config.target, config.images, config.watch) == ("project", "auto", (), WatchSettings())


def test_helm_release_defaults_to_the_project_name() -> None:
    text = "version: 1\nname: shop\nmanifests:\n  - helm: {chart: charts/shop}\n"
    (helm,) = parse_config(text, CONFIG).manifests
    assert isinstance(helm, HelmSource)
    assert (helm.release, helm.namespace, helm.values, helm.set) == ("shop", None, (), ())


@pytest.mark.parametrize("levels", [150, 3000])
def test_deep_nesting_points_at_the_first_value_too_deep(tmp_path: Path, levels: int) -> None:
    # 150 levels are composed and refused by the checks; 3000 exhaust the composer (a RecursionError before)
    text = "version: 1\nname: x\nwatch:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, levels))
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "devloop.yaml")
    assert "levels of nesting" in str(info.value)
    assert info.value.location == f"devloop.yaml:{4 + yamlpos.MAX_DEPTH}:{2 * yamlpos.MAX_DEPTH + 3}"


def test_anchors_aliases_and_merge_keys() -> None:
    text = """\
version: 1
images:
  - &api
    ref: shop/api
    context: api
    args: &args {A: "1"}
  - <<: *api
    ref: shop/api-worker
    args: *args
"""
    api, worker = parse_config(text, CONFIG).images
    assert worker.ref == "shop/api-worker"
    assert worker.context == api.context
    assert worker.args == api.args == (("A", "1"),)


def test_sync_src_may_be_the_whole_context_and_absolute_inside_it() -> None:
    text = f"""\
version: 1
images:
  - ref: shop/api
    context: api
    live_update:
      sync:
        - {{src: ., dest: /srv}}
        - {{src: "{(PROJECT / "api" / "app").absolute()}", dest: /srv/app}}
        - {{src: app/../requirements.txt, dest: /srv/r.txt}}
"""
    live = parse_config(text, CONFIG).images[0].live_update
    assert live is not None
    assert [rule.src for rule in live.sync] == [".", "app", "requirements.txt"]


@pytest.mark.parametrize(
    ("folder", "label"),
    [("shop", "shop"), ("My Shop!", "my-shop"), ("__x__", "x"), ("a" * 80, "a" * 63), ("ÄÖ-app", "app")],
)
def test_sanitize_name(folder: str, label: str) -> None:
    assert sanitize_name(folder) == label


def test_folder_name_without_usable_characters_asks_for_a_name(tmp_path: Path) -> None:
    project = tmp_path / "___"
    project.mkdir()
    (project / "devloop.yaml").write_text("version: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(project / "devloop.yaml")
    assert str(info.value).startswith("devloop.yaml:1:1: name: ")
    assert "set `name:`" in str(info.value)


# ------------------------------------------------------------------------------------------ broken configs

IMAGE = "version: 1\nimages:\n  - ref: shop/api\n    context: api\n"
LIVE = IMAGE + "    live_update:\n"
RES = "version: 1\nresources:\n  api:\n"

# (id, text, location, key path or None, a fragment of the message)
# fmt: off
BROKEN: list[tuple[str, str, str, str | None, str]] = [
    # The file as a whole, and YAML itself.
    ("empty-file", "", "1:1", None, "got an empty file"),
    ("only-comments", "# nothing\n\n", "1:1", None, "got an empty file"),
    ("top-level-list", "- version: 1\n", "1:1", None, "expected a mapping of settings"),
    ("top-level-scalar", "devloop\n", "1:1", None, 'got "devloop"'),
    ("two-documents", "version: 1\n---\nversion: 1\n", "2:1", None, "expected a single document"),
    ("syntax-indentation", IMAGE + "   target: dev\n", "5:4", None, "check the indentation"),
    ("syntax-tab", "version: 1\nname:\n\tshop\n", "3:1", None, "not tabs"),
    ("syntax-unclosed-flow", "version: 1\nimages: [\n", "3:1", None, "invalid YAML"),
    ("special-character", "version: 1\nname: sh\x07op\n", "2:9", None, "U+0007"),
    ("duplicate-key", "version: 1\nname: a\nname: b\n", "3:1", "name", "got `name` again (first at line 2"),
    ("duplicate-nested-key", IMAGE + "    context: web\n", "5:5", "images[0].context", "again"),
    ("binary-tag", "version: 1\nname: !!binary aGk=\n", "2:7", "name", "tagged !!binary"),
    ("custom-tag", "version: 1\nimages: !images []\n", "2:9", "images", "tagged !images"),
    ("bad-int-tag", "version: !!int one\n", "1:10", "version", 'expected a valid !!int value, got "one"'),
    ("huge-int", "version: " + "9" * 5000 + "\n", "1:10", "version", "expected a valid !!int value"),
    ("undefined-alias", "version: 1\nname: *shop\n", "2:7", None, "undefined alias"),
    ("recursive-alias", "version: 1\nimages: &x [*x]\n", "2:9", "images[0]", "recursive anchor"),
    ("complex-key", "version: 1\n? [a, b]\n: 1\n", "2:3", None, "got a list used as a key"),
    ("bad-merge", "version: 1\n<<: 3\n", "2:5", "<<", "merge only mappings"),
    # Top-level keys.
    ("missing-version", "name: shop\n", "1:1", "version", "got no version; add `version: 1`"),
    ("version-2", "version: 2\n", "1:10", "version", "expected 1 (the only version of devloop.yaml), got 2"),
    ("version-quoted", 'version: "1"\n', "1:10", "version", 'got "1"'),
    ("version-bool", "version: true\n", "1:10", "version", "got true (a boolean)"),
    ("unknown-key-close", "version: 1\nimgaes: []\n", "2:1", "imgaes", "did you mean `images`?"),
    ("unknown-key-far", "version: 1\nservices: {}\n", "2:1", "services", "got unknown key `services`"),
    ("name-invalid", "version: 1\nname: Shop_API\n", "2:7", "name", 'DNS-1123 label'),
    ("name-too-long", "version: 1\nname: " + "a" * 64 + "\n", "2:7", "name", "at most 63"),
    ("name-bool", "version: 1\nname: no\n", "2:7", "name",
     'got no (a boolean); YAML reads no as a boolean; write it in quotes: "no"'),
    ("name-list", "version: 1\nname: [a]\n", "2:7", "name", "got a list"),
    ("target-enum", "version: 1\ntarget: k8s\n", "2:9", "target", 'expected auto, kubernetes or docker, got "k8s"'),
    # kubernetes, docker.
    ("kubernetes-scalar", "version: 1\nkubernetes: kind\n", "2:13", "kubernetes", 'got "kind"'),
    ("kubernetes-unknown", "version: 1\nkubernetes:\n  contxt: kind\n", "3:3", "kubernetes.contxt",
     "did you mean `context`?"),
    ("namespace-invalid", "version: 1\nkubernetes:\n  namespace: Dev_NS\n", "3:14", "kubernetes.namespace",
     'try "dev-ns"'),
    ("allow-contexts-string", "version: 1\nkubernetes:\n  allow_contexts: dev\n", "3:19",
     "kubernetes.allow_contexts", 'got "dev"'),
    ("allow-contexts-item", "version: 1\nkubernetes:\n  allow_contexts: [dev, {a: 1}]\n", "3:25",
     "kubernetes.allow_contexts[1]", "got a mapping"),
    ("registry-scheme", "version: 1\nkubernetes:\n  registry: http://localhost:5000/\n", "3:13",
     "kubernetes.registry", 'without a scheme, got "http://localhost:5000/"; write "localhost:5000"'),
    ("network-invalid", "version: 1\ndocker:\n  network: 'my net'\n", "3:12", "docker.network",
     'got "my net"'),
    # manifests.
    ("manifests-string", "version: 1\nmanifests: k8s/*.yaml\n", "2:12", "manifests", "expected a list"),
    ("manifest-bool", "version: 1\nmanifests:\n  - true\n", "3:5", "manifests[0]", "got true (a boolean)"),
    ("manifest-absolute", "version: 1\nmanifests: [/k8s/*.yaml]\n", "2:13", "manifests[0]",
     "relative to devloop.yaml"),
    ("manifest-both", "version: 1\nmanifests:\n  - {kustomize: k8s, helm: {chart: charts/shop}}\n", "3:5",
     "manifests[0]", "got kustomize and helm"),
    ("manifest-unknown", "version: 1\nmanifests:\n  - kustomise: k8s\n", "3:5", "manifests[0].kustomise",
     "did you mean `kustomize`?"),
    ("kustomize-missing", "version: 1\nmanifests:\n  - kustomize: k8s/nope\n", "3:16",
     "manifests[0].kustomize", "k8s/nope does not exist"),
    ("kustomize-no-file", "version: 1\nmanifests:\n  - kustomize: k8s\n", "3:16", "manifests[0].kustomize",
     "has no kustomization.yaml"),
    ("helm-no-chart", "version: 1\nmanifests:\n  - helm: {release: x}\n", "3:11", "manifests[0].helm.chart",
     "got no chart"),
    ("helm-not-a-chart", "version: 1\nmanifests:\n  - helm: {chart: k8s}\n", "3:19",
     "manifests[0].helm.chart", "has no Chart.yaml"),
    ("helm-values-missing", "version: 1\nmanifests:\n  - helm:\n      chart: charts/shop\n      values: [nope.yaml]\n",
     "5:16", "manifests[0].helm.values[0]", "nope.yaml does not exist"),
    ("helm-unknown", "version: 1\nmanifests:\n  - helm: {chart: charts/shop, relase: x}\n", "3:32",
     "manifests[0].helm.relase", "did you mean `release`?"),
    ("helm-release", "version: 1\nmanifests:\n  - helm: {chart: charts/shop, release: My_Rel}\n", "3:41",
     "manifests[0].helm.release", "Helm release name"),
    ("helm-set-list", "version: 1\nmanifests:\n  - helm: {chart: charts/shop, set: {a: [1]}}\n", "3:41",
     "manifests[0].helm.set.a", "got a list"),
    # images.
    ("images-mapping", "version: 1\nimages: {ref: x}\n", "2:9", "images", "expected a list of images"),
    ("image-null", "version: 1\nimages:\n  -\n", "3:4", "images[0]", "expected a mapping"),
    ("image-no-ref", "version: 1\nimages:\n  - context: api\n", "3:5", "images[0].ref", "got no ref"),
    ("image-ref-tag", "version: 1\nimages:\n  - ref: shop/api:1.0\n", "3:10", "images[0].ref",
     'write "shop/api"'),
    ("image-ref-digest", "version: 1\nimages:\n  - ref: shop/api@sha256:abc\n", "3:10", "images[0].ref",
     "without tag or digest"),
    ("image-ref-upper", "version: 1\nimages:\n  - ref: Shop/API\n", "3:10", "images[0].ref",
     "image names are lowercase"),
    ("image-unknown-key", IMAGE + "    dockerfle: x\n", "5:5", "images[0].dockerfle", "did you mean `dockerfile`?"),
    ("context-missing", "version: 1\nimages:\n  - ref: shop/api\n    context: nope\n", "4:14",
     "images[0].context", "nope does not exist; create it or fix the path"),
    ("context-is-file", "version: 1\nimages:\n  - ref: shop/api\n    context: devloop.yaml\n", "4:14",
     "images[0].context", "devloop.yaml is not a folder"),
    ("context-nul", IMAGE.replace("context: api", 'context: "a\\0pi"'), "4:14", "images[0].context",
     "which is not a usable path (embedded null byte)"),
    ("context-too-long", IMAGE.replace("context: api", "context: " + "x" * 5000), "4:14", "images[0].context",
     "which is not a usable path (file name too long)"),
    ("dockerfile-default-missing", "version: 1\nimages:\n  - ref: shop/api\n    context: k8s\n", "3:5",
     "images[0].dockerfile", "k8s/Dockerfile does not exist; create it or set images[0].dockerfile"),
    ("dockerfile-missing", IMAGE + "    dockerfile: Dockerfile.dev\n", "5:17", "images[0].dockerfile",
     "api/Dockerfile.dev does not exist"),
    ("target-spaces", IMAGE + "    target: my stage\n", "5:13", "images[0].target", "without spaces"),
    ("args-list", IMAGE + "    args: [PY=3]\n", "5:11", "images[0].args", "expected a mapping of build args"),
    ("args-value-list", IMAGE + "    args: {PY: [3]}\n", "5:16", "images[0].args.PY", "got a list"),
    ("args-value-null", IMAGE + "    args:\n      PY: ~\n", "6:11", "images[0].args.PY", "got null"),
    ("ignore-string", IMAGE + "    ignore: '*.md'\n", "5:13", "images[0].ignore", 'got "*.md"'),
    ("test-string", IMAGE + "    test: pytest\n", "5:11", "images[0].test", 'expected a mapping with `cmd`'),
    ("test-no-cmd", IMAGE + "    test: {}\n", "5:11", "images[0].test.cmd", "got no cmd"),
    ("duplicate-ref", IMAGE + "  - ref: shop/api\n    context: api\n", "5:10", "images[1].ref",
     'got "shop/api" again (first in images[0] at line 3)'),
    ("duplicate-ref-spelled-otherwise", IMAGE + "  - ref: docker.io/shop/api\n    context: api\n", "5:10",
     "images[1].ref", 'got "docker.io/shop/api" again (first in images[0] at line 3)'),
    # live_update.
    ("live-unknown", LIVE + "      synk: []\n", "6:7", "images[0].live_update.synk", "did you mean `sync`?"),
    ("sync-dest-relative", LIVE + "      sync:\n        - src: app\n          dest: app\n", "8:17",
     "images[0].live_update.sync[0].dest", 'must be an absolute container path, got "app"'),
    ("sync-no-dest", LIVE + "      sync:\n        - src: app\n", "7:11", "images[0].live_update.sync[0].dest",
     "got no dest"),
    ("sync-src-outside", LIVE + "      sync:\n        - src: ../k8s\n          dest: /k8s\n", "7:16",
     "images[0].live_update.sync[0].src", "lies outside the context api"),
    ("sync-src-missing", LIVE + "      sync:\n        - src: lib\n          dest: /lib\n", "7:16",
     "images[0].live_update.sync[0].src", "api/lib does not exist"),
    ("sync-scalar", LIVE + "      sync: [app]\n", "6:14", "images[0].live_update.sync[0]",
     "expected a mapping with src and dest"),
    ("run-cmd-number", LIVE + "      run:\n        - cmd: [sleep, 5]\n", "7:24",
     "images[0].live_update.run[0].cmd[1]", "got 5 (a number); quote it"),
    ("run-cmd-empty-list", LIVE + "      run:\n        - cmd: []\n", "7:16", "images[0].live_update.run[0].cmd",
     "got a list"),
    ("run-trigger-outside", LIVE + "      run:\n        - cmd: make\n          trigger: [../Makefile]\n", "8:21",
     "images[0].live_update.run[0].trigger[0]", "lies outside the image context"),
    ("fall-back-absolute", LIVE + "      fall_back_on: [/etc/passwd]\n", "6:22",
     "images[0].live_update.fall_back_on[0]", "write it relative to the image context"),
    ("restart-string", LIVE + "      restart: 'yes'\n", "6:16", "images[0].live_update.restart",
     'expected true or false, got "yes"'),
    # resources.
    ("resources-list", "version: 1\nresources: [api]\n", "2:12", "resources", "expected a mapping of resource"),
    ("resource-unknown", RES + "    port_forward: [8000]\n", "4:5", "resources.api.port_forward",
     "did you mean `port_forwards`?"),
    ("port-range", RES + "    port_forwards: ['70000']\n", "4:21", "resources.api.port_forwards[0]",
     'ports from 1 to 65535, got "70000"'),
    ("port-format", RES + "    port_forwards: [a:b]\n", "4:21", "resources.api.port_forwards[0]",
     '"LOCAL[:CONTAINER]"'),
    ("port-three-parts", RES + "    port_forwards: ['1:2:3']\n", "4:21", "resources.api.port_forwards[0]",
     'got "1:2:3"'),
    ("port-huge", RES + "    port_forwards: ['" + "9" * 5000 + "']\n", "4:21", "resources.api.port_forwards[0]",
     "ports from 1 to 65535"),
    ("port-duplicate", RES + "    port_forwards: [8000]\n  web:\n    port_forwards: ['8000:80']\n", "6:21",
     "resources.web.port_forwards[0]", "already forwarded by resources.api.port_forwards[0]"),
    ("depends-on-string", RES + "    depends_on: db\n", "4:17", "resources.api.depends_on", 'got "db"'),
    ("depends-on-self", RES + "    depends_on: [db, api]\n", "4:22", "resources.api.depends_on[1]",
     "the resource itself"),
    ("depends-on-mapping", RES + "    depends_on: [{db: 1}]\n", "4:18", "resources.api.depends_on[0]",
     "got a mapping"),
    ("resource-trigger", RES + "    trigger: sometimes\n", "4:14", "resources.api.trigger",
     'expected auto or manual, got "sometimes"'),
    ("readiness-negative", RES + "    readiness_timeout: -5\n", "4:24", "resources.api.readiness_timeout",
     "positive number of seconds, got -5"),
    ("readiness-string", RES + "    readiness_timeout: 5m\n", "4:24", "resources.api.readiness_timeout",
     'got "5m"'),
    ("readiness-nan", RES + "    readiness_timeout: .nan\n", "4:24", "resources.api.readiness_timeout",
     "positive number"),
    ("objects-invalid", RES + "    objects: ['Shop Config']\n", "4:15", "resources.api.objects[0]",
     '"NAME[:KIND]"'),
    ("objects-empty-kind", RES + "    objects: ['cfg:']\n", "4:15", "resources.api.objects[0]", 'got "cfg:"'),
    ("resource-name-space", "version: 1\nresources:\n  'my api': {}\n", "3:3", "resources.my api",
     "expected a resource name"),
    # watch.
    ("watch-list", "version: 1\nwatch: [a]\n", "2:8", "watch", "expected a mapping (ignore, debounce_ms)"),
    ("watch-ignore-string", "version: 1\nwatch:\n  ignore: '*.log'\n", "3:11", "watch.ignore",
     "list of gitignore patterns"),
    ("debounce-negative", "version: 1\nwatch:\n  debounce_ms: -1\n", "3:16", "watch.debounce_ms",
     "whole number of milliseconds"),
    ("debounce-float", "version: 1\nwatch:\n  debounce_ms: 1.5\n", "3:16", "watch.debounce_ms", "got 1.5"),
    ("debounce-bool", "version: 1\nwatch:\n  debounce_ms: yes\n", "3:16", "watch.debounce_ms",
     "got yes (a boolean)"),
]
# fmt: on

MESSAGE = re.compile(r"^devloop\.yaml:(\d+):(\d+): (.*)$", re.S)


@pytest.mark.parametrize(("text", "location", "key", "fragment"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_config(text: str, location: str, key: str | None, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, CONFIG)
    error = info.value
    message = str(error)
    assert error.exit_code == ExitStatus.USAGE
    assert error.location == f"devloop.yaml:{location}", message
    assert error.key == key, message
    prefix = f"devloop.yaml:{location}: " + (f"{key}: " if key else "")
    assert message.startswith(prefix), message
    assert fragment in message, message
    assert MESSAGE.match(message)
    assert "\n" not in message


def test_the_table_is_large_enough() -> None:
    assert len(BROKEN) >= 35
    assert len({c[0] for c in BROKEN}) == len(BROKEN)


def test_messages_have_expected_and_got() -> None:
    for _, text, *_ in BROKEN:
        with pytest.raises(ConfigError) as info:
            parse_config(text, CONFIG)
        detail = info.value.detail
        if detail.startswith("invalid YAML: "):
            continue  # the parser's own words
        assert ("expected" in detail or "must be" in detail) and ("got" in detail or "found" in detail), detail


# ------------------------------------------------------------------------------------------ files


def test_non_utf8_byte_is_located(tmp_path: Path) -> None:
    path = tmp_path / "devloop.yaml"
    path.write_bytes(b"version: 1\nname: sh\xffop\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith("devloop.yaml:2:9: expected UTF-8 text, got the byte 0xff")


def test_byte_order_marks_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "devloop.yaml"
    path.write_bytes(b"\xef\xbb\xbfversion: 1\nname: shop\n")
    assert load_config(path).name == "shop"
    path.write_bytes("version: 1\nname: shop\n".encode("utf-16"))
    assert load_config(path).name == "shop"


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "devloop.yaml"
    path.write_text("version: 1\n")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)


def test_load_missing_file_or_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "devloop.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "p"
    shutil.copytree(PROJECT, project)
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("p/devloop.yaml"))
    assert config.path == project / "devloop.yaml"
    assert config.images[0].context == (project / "api").resolve()


# ------------------------------------------------------------------------------------------ find_config


def test_find_config_default_is_cwd(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("version: 1\n")
    assert find_config(None, tmp_path) == tmp_path / "devloop.yaml"


def test_find_config_folder_means_its_devloop_yaml(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "devloop.yaml").write_text("version: 1\n")
    assert find_config("sub", tmp_path) == tmp_path / "sub" / "devloop.yaml"
    assert find_config(str(tmp_path / "sub"), Path("/")) == tmp_path / "sub" / "devloop.yaml"


def test_find_config_file_of_any_name(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("version: 1\n")
    assert find_config("other.yaml", tmp_path) == tmp_path / "other.yaml"
    assert find_config("./x/../other.yaml", tmp_path) == tmp_path / "other.yaml"


def test_find_config_missing_default_says_where_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_config(None, tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "create one" in message and "-f" in message
    assert info.value.exit_code == ExitStatus.USAGE


def test_find_config_points_at_devloop_yml(tmp_path: Path) -> None:
    (tmp_path / "devloop.yml").write_text("version: 1\n")
    with pytest.raises(ConfigError, match=r"rename it to devloop\.yaml"):
        find_config(None, tmp_path)


def test_find_config_missing_folder_and_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no devloop.yaml in .*empty; create one"):
        find_config("empty", tmp_path)
    with pytest.raises(ConfigError, match=r"config file .*nope.yaml does not exist; check the path given to -f"):
        find_config("nope.yaml", tmp_path)
