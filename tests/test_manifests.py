"""Reading manifests: globs of multi-document files, kustomize (for real), helm, and every bad input."""

from __future__ import annotations

import glob
import os
import shutil
import stat
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devloop.config import yamldata
from devloop.config.manifests import (
    expand_glob,
    helm_argv,
    kustomize_argv,
    load_manifests,
    manifest_paths,
    parse_manifests,
)
from devloop.config.model import Config, GlobSource, HelmSource, KubernetesSettings, KustomizeSource
from devloop.errors import ConfigError, ToolMissingError
from devloop.exit_status import ExitStatus
from tests.support.examples import examples

DATA = Path(__file__).parent / "data" / "manifests"

# Positions as the loader records them for a devloop.yaml with three manifests entries.
POSITIONS = (
    ("manifests", 3, 1),
    ("manifests[0]", 4, 5),
    ("manifests[1]", 5, 5),
    ("manifests[1].kustomize", 5, 16),
    ("manifests[2]", 6, 5),
    ("manifests[2].helm", 6, 11),
)


def make_config(root: Path, *sources: GlobSource | KustomizeSource | HelmSource, **kw: object) -> Config:
    return Config(path=root / "devloop.yaml", name="shop", manifests=sources, positions=POSITIONS, **kw)  # type: ignore[arg-type]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


# ------------------------------------------------------------------------------------------ globs


def test_multi_document_file_skips_empty_documents_and_expands_lists(tmp_path: Path) -> None:
    shutil.copy(DATA / "multi.yaml", tmp_path / "multi.yaml")
    objects = load_manifests(make_config(tmp_path, GlobSource("*.yaml", 0)))
    assert [(o.kind, o.name, o.source) for o in objects] == [
        ("ConfigMap", "first", "multi.yaml:3"),
        ("Secret", "in-list-1", "multi.yaml:18"),
        ("ServiceAccount", "in-list-2", "multi.yaml:22"),
        ("Deployment", "last", "multi.yaml:27"),
    ]
    # timestamps stay text, as Kubernetes reads them
    assert objects[0].body["metadata"]["annotations"]["created"] == "2024-01-02"


def test_glob_files_are_sorted_and_double_star_crosses_folders(tmp_path: Path) -> None:
    write(tmp_path / "k8s/b.yaml", configmap("b"))
    write(tmp_path / "k8s/a.yaml", configmap("a"))
    write(tmp_path / "k8s/deep/er/c.yml", configmap("c"))
    write(tmp_path / "k8s/notes.txt", "not yaml: [")
    objects = load_manifests(make_config(tmp_path, GlobSource("k8s/**/*.y*ml", 0)))
    assert [(o.name, o.source) for o in objects] == [
        ("a", "k8s/a.yaml:1"),
        ("b", "k8s/b.yaml:1"),
        ("c", "k8s/deep/er/c.yml:1"),
    ]


def test_a_file_matched_by_two_globs_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "k8s/a.yaml", configmap("a"))
    write(tmp_path / "k8s/b.yaml", configmap("b"))
    config = make_config(tmp_path, GlobSource("k8s/b.yaml", 0), GlobSource("k8s/*.yaml", 1))
    assert [o.name for o in load_manifests(config)] == ["b", "a"]


def test_links_under_a_double_star_glob_neither_loop_nor_duplicate(tmp_path: Path) -> None:
    write(tmp_path / "k8s/app.yaml", configmap("app"))
    write(tmp_path / "k8s/sub/db.yaml", configmap("db"))
    (tmp_path / "k8s/sub/loop").symlink_to("..")  # a loop: k8s/sub/loop/sub/loop/...
    (tmp_path / "k8s/sub/again").symlink_to("../sub")  # a second way into the same folder
    (tmp_path / "k8s/alias.yaml").symlink_to("app.yaml")  # a link to a file matched already
    (tmp_path / "k8s/.hidden").mkdir()
    write(tmp_path / "k8s/.hidden/x.yaml", configmap("hidden"))
    config = make_config(tmp_path, GlobSource("k8s/**/*.yaml", 0), GlobSource("k8s/*.yaml", 1))
    objects = load_manifests(config)
    assert [(o.name, o.source) for o in objects] == [("app", "k8s/alias.yaml:1"), ("db", "k8s/sub/db.yaml:1")]
    assert {p.relative_to(tmp_path).as_posix() for p in manifest_paths(config)} == {"k8s/alias.yaml", "k8s/sub/db.yaml"}


def test_double_star_matches_like_glob(tmp_path: Path) -> None:
    for name in ("a.yaml", "x/b.yaml", "x/y/c.yml", "x/.d.yaml", ".e/f.yaml", "x/y/z/g.yaml"):
        write(tmp_path / name, configmap(Path(name).stem.strip(".")))
    for pattern in ("**/*.yaml", "x/**/*.yaml", "**", "x/**", "**/y/*.y*ml", "x/**/z/*.yaml", "**/.d.yaml"):
        expected = sorted(
            os.path.normpath(m)
            for m in glob.glob(pattern, root_dir=tmp_path, recursive=True)
            if (tmp_path / m).is_file()
        )
        found = expand_glob(make_config(tmp_path), GlobSource(pattern, 0))
        assert [p.relative_to(tmp_path).as_posix() for p in found] == expected, pattern


def test_glob_without_match_is_an_error_at_the_manifests_entry(tmp_path: Path) -> None:
    write(tmp_path / "k8s/a.yaml", configmap("a"))
    config = make_config(tmp_path, GlobSource("k8s/*.yaml", 0), GlobSource("deploy/*.yaml", 1))
    with pytest.raises(ConfigError) as info:
        load_manifests(config)
    assert str(info.value).startswith("devloop.yaml:5:5: manifests[1]: the manifest pattern 'deploy/*.yaml'")
    assert "matched no file" in str(info.value)
    assert info.value.exit_code == ExitStatus.USAGE


def test_a_glob_matching_only_folders_matches_no_file(tmp_path: Path) -> None:
    (tmp_path / "k8s" / "sub.yaml").mkdir(parents=True)
    with pytest.raises(ConfigError, match="matched no file"):
        load_manifests(make_config(tmp_path, GlobSource("k8s/*.yaml", 0)))


def test_manifest_paths_lists_the_files_for_the_watcher(tmp_path: Path) -> None:
    write(tmp_path / "k8s/a.yaml", configmap("a"))
    (tmp_path / "overlay").mkdir()
    config = make_config(
        tmp_path,
        GlobSource("k8s/*.yaml", 0),
        GlobSource("missing/*.yaml", 1),
        KustomizeSource(tmp_path / "overlay", 2),
    )
    assert manifest_paths(config) == [tmp_path / "k8s/a.yaml", tmp_path / "overlay"]


# ------------------------------------------------------------------------------------ bad manifests


@pytest.mark.parametrize(
    ("text", "location", "fragment"),
    [
        # a YAML syntax error names the file, line and column
        ((DATA / "broken.yaml").read_text(), "k8s/app.yaml:12:8", "not valid YAML"),
        ("kind: ConfigMap\nmetadata:\n  name: a\n  labels: {a: b\n", "k8s/app.yaml:5:1", "not valid YAML"),
        ("a: b\n c: d\n", "k8s/app.yaml:2:3", "not valid YAML"),
        ("\tkind: ConfigMap\n", "k8s/app.yaml:1:1", "not valid YAML"),
        # a document that is not a mapping
        (configmap("a") + "---\n- just\n- a list\n", "k8s/app.yaml:6:1", "got a list"),
        ("---\nhello\n", "k8s/app.yaml:2:1", "got the text 'hello'"),
        ("42\n", "k8s/app.yaml:1:1", "got the number 42"),
        # missing kind / metadata.name
        ("apiVersion: v1\nmetadata:\n  name: x\n", "k8s/app.yaml:1:1", "has no `kind`"),
        (configmap("a") + "---\n\napiVersion: v1\nkind: Secret\n", "k8s/app.yaml:7:1", "Secret has no `metadata.name`"),
        ("kind: Pod\nmetadata:\n  generateName: x-\n", "k8s/app.yaml:1:1", "generateName is not supported"),
        ("kind: Pod\nmetadata: [x]\n", "k8s/app.yaml:1:1", "has no `metadata.name`"),
        # inside a List
        (
            "kind: List\nitems:\n  - kind: Secret\n    metadata: {name: s}\n  - 3\n",
            "k8s/app.yaml:5:5",
            "an item of a List",
        ),
        # duplicate keys, recursive aliases, forbidden characters
        ("kind: ConfigMap\nmetadata:\n  name: a\n  name: b\n", "k8s/app.yaml:4:3", "'name' appears twice"),
        ("kind: ConfigMap\nmetadata: &m\n  name: a\n  self: *m\n", "k8s/app.yaml:2:11", "recursive"),
        ("kind: ConfigMap\nmetadata:\n  name: a\x07\n", "k8s/app.yaml:3:10", "character YAML does not allow"),
        (
            "kind: ConfigMap\nmetadata: !!python/object:os.system {name: a}\n",
            "k8s/app.yaml:2:11",
            "tagged !!python/object",
        ),
    ],
)
def test_bad_manifest_names_file_line_and_column(tmp_path: Path, text: str, location: str, fragment: str) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_manifests(make_config(tmp_path, GlobSource("k8s/*.yaml", 0)))
    assert info.value.location == location
    assert str(info.value).startswith(f"{location}: ")
    assert fragment in str(info.value)
    assert info.value.exit_code == ExitStatus.USAGE


def test_manifest_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"kind: ConfigMap\nmetadata:\n  name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^bad.yaml: cannot read manifest bad.yaml: it is not UTF-8"):
        load_manifests(make_config(tmp_path, GlobSource("bad.yaml", 0)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_manifest(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.yaml", configmap("a"))
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match=r"cannot read manifest secret\.yaml"):
            load_manifests(make_config(tmp_path, GlobSource("secret.yaml", 0)))
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_deeply_nested_manifest_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_manifests("kind: A\nx: " + "[" * 5000, "deep.yaml")


# ---------------------------------------------------------------------------------------- kustomize


def _has_kustomize() -> bool:
    return kustomize_argv(Path(".")) is not None


@pytest.mark.skipif(not _has_kustomize(), reason="neither kustomize nor kubectl is installed")
def test_kustomize_overlay_is_rendered_for_real(tmp_path: Path) -> None:
    shutil.copytree(DATA / "kustomize", tmp_path / "k8s")
    config = make_config(tmp_path, KustomizeSource(tmp_path / "k8s/overlays/dev", 1))
    objects = load_manifests(config)
    by_kind = {o.kind: o for o in objects}
    assert set(by_kind) == {"ConfigMap", "Service", "Deployment"}
    assert by_kind["Deployment"].name == "dev-api"
    assert by_kind["Service"].name == "dev-api"
    assert by_kind["ConfigMap"].name.startswith("dev-settings-")
    assert [o.source for o in objects] == [f"kustomize:k8s/overlays/dev#{n}" for n in (1, 2, 3)]


@pytest.mark.skipif(not _has_kustomize(), reason="neither kustomize nor kubectl is installed")
def test_kustomize_failure_is_a_config_error_at_the_entry(tmp_path: Path) -> None:
    shutil.copytree(DATA / "kustomize", tmp_path / "k8s")
    config = make_config(tmp_path, KustomizeSource(tmp_path / "k8s/broken", 1))
    with pytest.raises(ConfigError) as info:
        load_manifests(config)
    text = str(info.value)
    assert text.startswith("devloop.yaml:5:16: manifests[1].kustomize: rendering the kustomize overlay k8s/broken")
    assert "does-not-exist.yaml" in text
    assert info.value.exit_code == ExitStatus.USAGE


def test_kustomize_prefers_kustomize_over_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kustomize", "kubectl"):
        script = bin_dir / tool
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert kustomize_argv(tmp_path / "o") == ["kustomize", "build", str(tmp_path / "o")]
    (bin_dir / "kustomize").unlink()
    assert kustomize_argv(tmp_path / "o") == ["kubectl", "kustomize", str(tmp_path / "o")]


def test_kustomize_without_either_tool_names_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text("resources: []\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    with pytest.raises(ToolMissingError) as info:
        load_manifests(make_config(tmp_path, KustomizeSource(tmp_path / "overlay", 1)))
    text = str(info.value)
    assert text.startswith("devloop.yaml:5:16: manifests[1].kustomize: ")
    assert "`kustomize`" in text and "`kubectl`" in text
    assert info.value.exit_code == ExitStatus.USAGE


# --------------------------------------------------------------------------------------------- helm


def test_helm_argv(tmp_path: Path) -> None:
    source = HelmSource(
        chart=tmp_path / "charts/shop",
        release="shop",
        namespace=None,
        values=(tmp_path / "charts/dev.yaml", tmp_path / "charts/local.yaml"),
        set=(("image.tag", "dev"), ("replicaCount", "1")),
        index=2,
    )
    config = make_config(tmp_path, source, kubernetes=KubernetesSettings(namespace="shop-dev"))
    assert helm_argv(config, source) == [
        "helm", "template", "shop", str(tmp_path / "charts/shop"),
        "--namespace", "shop-dev",
        "-f", str(tmp_path / "charts/dev.yaml"),
        "-f", str(tmp_path / "charts/local.yaml"),
        "--set", "image.tag=dev",
        "--set", "replicaCount=1",
    ]  # fmt: skip
    own = HelmSource(chart=tmp_path / "c", release="r", namespace="other")
    assert helm_argv(config, own) == ["helm", "template", "r", str(tmp_path / "c"), "--namespace", "other"]
    assert helm_argv(make_config(tmp_path), own.__class__(chart=tmp_path / "c", release="r", namespace=None)) == [
        "helm", "template", "r", str(tmp_path / "c"),
    ]  # fmt: skip


def test_helm_missing_is_a_tool_error_at_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "charts/shop").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    source = HelmSource(chart=tmp_path / "charts/shop", release="shop", namespace=None, index=2)
    with pytest.raises(ToolMissingError) as info:
        load_manifests(make_config(tmp_path, source))
    text = str(info.value)
    assert text.startswith("devloop.yaml:6:11: manifests[2].helm: rendering the helm chart charts/shop needs `helm`")
    assert "install Helm" in text
    assert info.value.exit_code == ExitStatus.USAGE


def test_helm_output_is_parsed_and_namespaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """helm is not installed here: a stand-in script prints what `helm template` would and records argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(
        "---\n# Source: shop/templates/cm.yaml\n" + configmap("shop-config")
        + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: shop-reader\n"
        + "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: keep\n  namespace: elsewhere\n"
    )  # fmt: skip
    argv_file = tmp_path / "argv"
    helm = bin_dir / "helm"
    helm.write_text(f'#!/bin/sh\necho "$@" > {argv_file}\ncat {rendered}\n')
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (tmp_path / "charts/shop").mkdir(parents=True)
    source = HelmSource(chart=tmp_path / "charts/shop", release="shop", namespace="shop-dev", index=2)
    objects = load_manifests(make_config(tmp_path, source))
    assert [(o.kind, o.name, o.namespace, o.source) for o in objects] == [
        ("ConfigMap", "shop-config", "shop-dev", "helm:charts/shop#1"),
        ("ClusterRole", "shop-reader", None, "helm:charts/shop#2"),
        ("Secret", "keep", "elsewhere", "helm:charts/shop#3"),
    ]
    chart = str(tmp_path / "charts/shop")
    assert argv_file.read_text().split() == ["template", "shop", chart, "--namespace", "shop-dev"]


def test_failing_helm_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helm = bin_dir / "helm"
    helm.write_text("#!/bin/sh\necho 'Error: template: shop/templates/x.yaml:3: bad' >&2\nexit 1\n")
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (tmp_path / "charts/shop").mkdir(parents=True)
    source = HelmSource(chart=tmp_path / "charts/shop", release="shop", namespace=None, index=2)
    with pytest.raises(ConfigError) as info:
        load_manifests(make_config(tmp_path, source))
    assert str(info.value).startswith("devloop.yaml:6:11: manifests[2].helm: rendering the helm chart charts/shop")
    assert "shop/templates/x.yaml:3: bad" in str(info.value)
    assert info.value.exit_code == ExitStatus.USAGE


# ------------------------------------------------------------------------------------ property test

SAMPLE = (DATA / "multi.yaml").read_text()


@settings(max_examples=examples(2000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(SAMPLE)),
            st.integers(min_value=0, max_value=4),
            st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`, \t\n?xa0\x00\x85\ufeff")), max_size=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_manifests_parse_or_fail_with_a_location(edits: list[tuple[int, int, str]]) -> None:
    text = SAMPLE
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    try:
        objects = parse_manifests(text, "k8s/app.yaml")
    except ConfigError as error:
        assert error.location is not None and error.location.startswith("k8s/app.yaml")
        assert str(error).startswith(error.location + ": ")
        assert "\n" not in str(error)
    else:
        for o in objects:
            assert o.kind and o.name and o.source.startswith("k8s/app.yaml:")


def test_kustomize_inputs_follow_bases_patches_and_generators(tmp_path: Path) -> None:
    from devloop.config.manifests import kustomize_inputs

    (tmp_path / "base").mkdir()
    (tmp_path / "base/kustomization.yaml").write_text("resources: [deploy.yaml, https://example.com/x.yaml]\n")
    (tmp_path / "base/deploy.yaml").write_text("kind: Deployment\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/patch.yaml").write_text("kind: Deployment\n")
    (tmp_path / "shared/app.env").write_text("A=1\n")
    (tmp_path / "overlays/dev").mkdir(parents=True)
    (tmp_path / "overlays/dev/kustomization.yaml").write_text(
        "resources: [../../base]\n"
        "patches: [{path: ../../shared/patch.yaml}]\n"
        "configMapGenerator: [{name: c, envs: [../../shared/app.env], files: [key=../../shared/patch.yaml]}]\n"
        "components: [../../missing]\n"
    )
    found = set(kustomize_inputs(tmp_path / "overlays/dev"))
    assert found == {
        tmp_path / "overlays/dev",
        tmp_path / "base",
        tmp_path / "base/deploy.yaml",
        tmp_path / "shared/patch.yaml",
        tmp_path / "shared/app.env",
    }


@pytest.mark.skipif(not yamldata.C_PARSER, reason="PyYAML was built without libyaml")
@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(SAMPLE)),
            st.integers(min_value=0, max_value=4),
            st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`, \t\n?xa0é\U0001f600<")), max_size=4),
        ),
        min_size=0,
        max_size=4,
    )
)
def test_the_c_parser_gives_the_same_values_positions_and_errors(edits: list[tuple[int, int, str]]) -> None:
    text = SAMPLE
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]

    def read(c_parser: bool) -> object:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(yamldata, "C_PARSER", c_parser)
            try:
                documents = yamldata.read_documents(text, "k8s/app.yaml")
            except ConfigError as error:
                return str(error)
        where = [
            [(key, doc.mark(container, key)) for container in _containers(doc.data) for key in _keys(container)]
            for doc in documents
        ]
        return [(doc.data, doc.line, doc.col) for doc in documents], where

    fast, pure = read(True), read(False)
    # libyaml accepts a few oddities the pure-Python parser refuses (a tab after a plain scalar); otherwise the
    # two agree: same values, same positions, and the same error (errors always come from the pure parser)
    if not (isinstance(pure, str) and "not valid YAML" in pure):
        assert fast == pure


def _containers(value: object) -> list[object]:
    found: list[object] = []
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict | list):
            found.append(item)
            todo.extend(item.values() if isinstance(item, dict) else item)
    return found


def _keys(container: object) -> list[str | int]:
    return list(container) if isinstance(container, dict) else list(range(len(container)))  # type: ignore[arg-type]


# ------------------------------------------------------------------------- what Kubernetes refuses

BOMB = "kind: ConfigMap\nmetadata: {name: bomb}\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "location", "fragment"),
    [
        # an alias bomb (1 KB that expands to 387 million values) is refused at the alias that crosses the limit
        (BOMB, "k8s/app.yaml:8:", "alias bomb"),
        # tagged values that are not what the tag says
        (configmap("a") + "data: {n: !!int x}\n", "k8s/app.yaml:5:11", '"x" is not a valid !!int value'),
        (configmap("a") + "data:\n  b: !!bool maybe\n", "k8s/app.yaml:6:6", '"maybe" is not a valid !!bool'),
        (configmap("a") + "x: !!timestamp 2001-99-99\n", "k8s/app.yaml:5:4", "not a valid !!timestamp"),
        (configmap("a") + "x: !!float .inf\n", "k8s/app.yaml:5:4", "infinite or NaN"),
        (configmap("a") + "x: !!set {a, b}\n", "k8s/app.yaml:5:4", "tagged !!set"),
        # ConfigMap and Secret values must be text (base64 text for Secret data and binaryData)
        (
            configmap("a") + "data:\n  enabled: True\n",
            "k8s/app.yaml:6:12",
            "data.enabled: the ConfigMap a: expected text, got the boolean true",
        ),
        (
            configmap("a") + "data:\n  ratio: 0.1\n",
            "k8s/app.yaml:6:10",
            "data.ratio: the ConfigMap a: expected text, got the number 0.1",
        ),
        (configmap("a") + "data:\n  blob: !!binary aGVsbG8=\n", "k8s/app.yaml:6:9", "tagged !!binary"),
        (
            configmap("a") + "data:\n  nested:\n    a: b\n",
            "k8s/app.yaml:7:5",
            "data.nested: the ConfigMap a: expected text, got a mapping",
        ),
        (
            configmap("a") + "data: [a, b]\n",
            "k8s/app.yaml:5:7",
            "data: the ConfigMap a: expected a mapping, got a list",
        ),
        (configmap("a") + "binaryData:\n  b: not base64!\n", "k8s/app.yaml:6:6", "expected base64 text"),
        (
            "kind: Secret\nmetadata: {name: s}\ndata:\n  password: hunter2\n",
            "k8s/app.yaml:4:13",
            "data.password: the Secret s: expected base64 text, got text that is not base64; encode it (`base64 -w0`) "
            "or move it to stringData",
        ),
        ("kind: Secret\nmetadata: {name: s}\nstringData:\n  port: 5432\n", "k8s/app.yaml:4:9", "got the number 5432"),
        ("kind: Pod\nmetadata:\n  name: p\n  labels: {tier: 1}\n", "k8s/app.yaml:4:18", "metadata.labels.tier"),
        # pod specs: containers written as a mapping, an env value that is a number
        (
            "kind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n"
            "        api:\n          image: shop/api\n",
            "k8s/app.yaml:7:9",
            "spec.template.spec.containers: the Deployment api: expected a list of containers, got a mapping; "
            "write each container as a list item",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      image: x\n"
            "      env:\n        - {name: PORT, value: 8080}\n",
            "k8s/app.yaml:8:31",
            "spec.containers[0].env[0].value: the Pod p: expected text, got the number 8080",
        ),
        (
            "kind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template: [x]\n",
            "k8s/app.yaml:6:17",
            "spec.jobTemplate.spec.template: the CronJob c: expected a mapping",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      args: [--port, 80]\n",
            "k8s/app.yaml:6:22",
            "spec.containers[0].args[1]",
        ),
        # merged keys keep the position where they are written
        (
            "kind: ConfigMap\nmetadata: {name: m}\nbase: &base {flag: yes}\ndata:\n  <<: *base\n",
            "k8s/app.yaml:3:20",
            "data.flag",
        ),
    ],
)
def test_values_kubernetes_refuses_are_errors_with_a_location(
    tmp_path: Path, text: str, location: str, fragment: str
) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_manifests(make_config(tmp_path, GlobSource("k8s/*.yaml", 0)))
    assert info.value.location is not None and info.value.location.startswith(location), str(info.value)
    assert fragment in str(info.value)
    assert info.value.exit_code == ExitStatus.USAGE


def test_values_kubernetes_accepts_are_kept_as_written() -> None:
    text = (
        "kind: ConfigMap\nmetadata: {name: ok, labels: {a: 'on'}}\n"
        "data:\n  when: 2001-12-14\n  t: !!timestamp 2001-12-14\n"
        "  empty:\nmerged: {<<: [{a: '1'}, {a: '2', b: '3'}], b: '4'}\n1: x\ntrue: y\n"
        "---\nkind: Secret\nmetadata: {name: s}\ndata:\n  a: |\n    aGVs\n    bG8=\nstringData: {b: '1'}\n"
    )
    config, secret = parse_manifests(text, "app.yaml")
    assert config.body["data"] == {"when": "2001-12-14", "t": "2001-12-14", "empty": None}
    assert config.body["merged"] == {"a": "1", "b": "4"}
    assert config.body["1"] == "x" and config.body["true"] == "y"
    assert secret.body["data"] == {"a": "aGVs\nbG8=\n"}


def test_an_alias_bomb_is_refused_quickly_and_small_aliases_work() -> None:
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_manifests(BOMB, "bomb.yaml")  # before: hundreds of millions of values at deploy time
    text = "kind: ConfigMap\nmetadata: {name: a, labels: &l {app: a}}\nx: {labels: *l, more: *l}\n"
    (obj,) = parse_manifests(text, "a.yaml")
    assert obj.body["x"] == {"labels": {"app": "a"}, "more": {"app": "a"}}


def test_deep_nesting_points_at_the_line_where_it_gets_too_deep() -> None:
    text = "kind: A\nmetadata: {name: a}\nx:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300))
    with pytest.raises(ConfigError) as info:
        parse_manifests(text, "deep.yaml")
    assert "nested too deeply" in str(info.value)
    assert info.value.location == f"deep.yaml:{4 + yamldata.MAX_DEPTH - 1}:{2 * yamldata.MAX_DEPTH + 1}"


def test_a_name_with_control_characters_is_refused_and_escaped() -> None:
    text = 'kind: ConfigMap\nmetadata:\n  name: "web\\e[2J\\nx"\n'
    with pytest.raises(ConfigError) as info:
        parse_manifests(text, "app.yaml")
    message = str(info.value)
    assert message.startswith("app.yaml:3:9: metadata.name: the ConfigMap web\\x1b[2J\\nx: expected a Kubernetes name")
    assert "\x1b" not in message and "\n" not in message


def test_control_characters_in_manifests_are_escaped_in_messages() -> None:
    text = 'kind: ConfigMap\nmetadata: {name: a}\ndata:\n  "\\e[2J\\nx": 1\n'
    with pytest.raises(ConfigError) as info:
        parse_manifests(text, "app.yaml")
    message = str(info.value)
    assert "\x1b" not in message and "\n" not in message
    assert "data.\\x1b[2J\\nx:" in message
