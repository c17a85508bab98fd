"""Reading manifests: globs of multi-document files, kustomize (for real), helm, and every bad input."""

from __future__ import annotations

import os
import shutil
import stat
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devloop.config.manifests import (
    helm_argv,
    kustomize_argv,
    load_manifests,
    manifest_paths,
    parse_manifests,
)
from devloop.config.model import Config, GlobSource, HelmSource, KubernetesSettings, KustomizeSource
from devloop.errors import EXIT_USAGE, ConfigError, ToolMissingError

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


def test_glob_without_match_is_an_error_at_the_manifests_entry(tmp_path: Path) -> None:
    write(tmp_path / "k8s/a.yaml", configmap("a"))
    config = make_config(tmp_path, GlobSource("k8s/*.yaml", 0), GlobSource("deploy/*.yaml", 1))
    with pytest.raises(ConfigError) as info:
        load_manifests(config)
    assert str(info.value).startswith("devloop.yaml:5:5: manifests[1]: the manifest pattern 'deploy/*.yaml'")
    assert "matched no file" in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


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
        ("kind: ConfigMap\nmetadata: !!python/object:os.system {name: a}\n", "k8s/app.yaml:2:11", "not valid YAML"),
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
    assert info.value.exit_code == EXIT_USAGE


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
    assert info.value.exit_code == EXIT_USAGE


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
    assert info.value.exit_code == EXIT_USAGE


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
    assert info.value.exit_code == EXIT_USAGE


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
    assert info.value.exit_code == EXIT_USAGE


# ------------------------------------------------------------------------------------ property test

SAMPLE = (DATA / "multi.yaml").read_text()


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
