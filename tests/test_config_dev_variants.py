"""devloop.yaml features for real projects (issue 14): named port forwards, development entrypoints, build
dependencies between images and profiles. Loaded from real files with ``load_project``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devloop.config.model import PortForward
from devloop.config.project import load_project
from devloop.errors import ConfigError
from devloop.exit_status import ExitStatus

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: shop/web
          ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]
"""


def write(root: Path, config: str, manifest: str = DEPLOYMENT, **files: str) -> Path:
    (root / "k8s.yaml").write_text(manifest)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    path = root / "devloop.yaml"
    path.write_text(textwrap.dedent(config))
    return path


# ------------------------------------------------------------------------------------------ named ports


def test_a_named_port_resolves_to_the_container_port_of_that_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        manifests: [k8s.yaml]
        resources:
          web: {port_forwards: ["8000:http", "9000:metrics", "8080"]}
        """,
    )
    web = load_project(path).resource("web")
    assert web is not None
    assert web.settings.port_forwards == (
        PortForward(8000, 8080, port_name="http"),
        PortForward(9000, 9090, port_name="metrics"),
        PortForward(8080, 8080),
    )
    assert str(web.settings.port_forwards[0]) == "8000:http"


def test_an_unknown_port_name_is_a_located_error_naming_the_resource_and_its_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        manifests: [k8s.yaml]
        resources:
          web:
            port_forwards: ["8000:htp"]
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    text = str(caught.value)
    assert caught.value.exit_code == ExitStatus.USAGE
    assert text.startswith("devloop.yaml:5:21: resources.web.port_forwards[0]:"), text
    assert "no container of the resource web (k8s.yaml:1) has a port named 'htp'" in text
    assert "did you mean 'http'?" in text and "its named ports: http, metrics" in text


@pytest.mark.parametrize("spec", ["8000:HTTP", "8000:-x", "8000:a_b", "8000:abcdefghijklmnop", "http:8000", "http"])
def test_malformed_port_names_are_rejected_by_the_loader(tmp_path: Path, spec: str) -> None:
    path = write(tmp_path, f'version: 1\nmanifests: [k8s.yaml]\nresources:\n  web: {{port_forwards: ["{spec}"]}}\n')
    with pytest.raises(ConfigError, match=r"resources\.web\.port_forwards\[0\]: expected a port forward"):
        load_project(path)


# ------------------------------------------------------------------------------------------ entrypoint


def test_an_entrypoint_replaces_command_and_args_of_the_containers_that_run_the_image(tmp_path: Path) -> None:
    from devloop.config.resources import override_entrypoints

    manifest = DEPLOYMENT.replace("          image: shop/web\n", "          image: shop/web:v1\n") + (
        "          command: [serve]\n          args: [--prod]\n        - {name: side, image: other, command: [sleep]}\n"
    )
    path = write(
        tmp_path,
        """\
        version: 1
        manifests: [k8s.yaml]
        images:
          - {ref: shop/web, entrypoint: [nodemon, server.js]}
          - {ref: shop/shell, entrypoint: "npm run dev"}
        """,
        manifest=manifest,
        Dockerfile="FROM scratch\n",
    )
    project = load_project(path)
    web, shell = project.config.images
    assert web.entrypoint == ("nodemon", "server.js") and shell.entrypoint == "npm run dev"
    resource = project.resource("web")
    assert resource is not None and resource.workload is not None
    written = resource.workload
    changed = override_entrypoints(written, project.config.images)
    main, side = changed.body["spec"]["template"]["spec"]["containers"]
    assert main["command"] == ["nodemon", "server.js"] and "args" not in main
    assert side["command"] == ["sleep"]
    assert written.body["spec"]["template"]["spec"]["containers"][0]["args"] == ["--prod"]  # the original is kept
    other = override_entrypoints(written, [shell])
    assert other is written


def test_render_never_uses_the_entrypoint(tmp_path: Path) -> None:
    from devloop.config.project import all_objects
    from devloop.render import render_documents

    manifest = DEPLOYMENT + "          command: [serve, --prod]\n"
    path = write(
        tmp_path,
        "version: 1\nmanifests: [k8s.yaml]\nimages:\n  - {ref: shop/web, entrypoint: npm run dev}\n",
        manifest=manifest,
        Dockerfile="FROM scratch\n",
    )
    project = load_project(path)
    (web,) = render_documents(project, all_objects(project.config), {"shop/web": "reg/shop/web@sha256:" + "0" * 64})
    assert "command:\n        - serve\n        - --prod" in web.text and "npm run dev" not in web.text, web.text


def test_an_empty_entrypoint_list_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nmanifests: [k8s.yaml]\nimages:\n  - {ref: shop/web, entrypoint: []}\n",
        Dockerfile="FROM scratch\n",
    )
    with pytest.raises(ConfigError, match=r"images\[0\]\.entrypoint: expected a command"):
        load_project(path)


# ------------------------------------------------------------------------------------------ requires

TWO_IMAGES = """\
version: 1
manifests: [k8s.yaml]
images:
  - ref: shop/web
    context: web
    requires: [{image: shop/base, alias: BASE}]
  - ref: shop/base
    context: base
"""


def images_project(tmp_path: Path, config: str) -> Path:
    return write(tmp_path, config, **{"web/Dockerfile": "ARG BASE\nFROM $BASE\n", "base/Dockerfile": "FROM scratch\n"})


def test_requires_links_the_required_image_and_its_tag_follows_the_base(tmp_path: Path) -> None:
    from devloop.build.digest import image_tag, with_required

    project = load_project(images_project(tmp_path, TWO_IMAGES))
    web, base = project.config.images
    assert [(r.image, r.alias) for r in web.requires] == [(base, "BASE")]
    assert web.required_refs == ("shop/base",) and base.required_refs == ()
    assert project.warnings == ()  # the base is used by its dependent, not "built but not deployed"
    first = with_required(web, {"shop/base": "shop/base:devloop-0000000000000001"})
    assert first.args == (("BASE", "shop/base:devloop-0000000000000001"),) and first.requires == ()
    second = with_required(web, {"shop/base": "shop/base:devloop-0000000000000002"})
    assert image_tag(first, use_cache=False) != image_tag(second, use_cache=False)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            TWO_IMAGES.replace("{image: shop/base,", "{image: shop/bse,"),
            r"devloop.yaml:6:24: images\[0\].requires\[0\].image: expected the ref of an image devloop builds, got "
            r"\"shop/bse\" \(did you mean \"shop/base\"\?\), which no images\[\] entry or workload builds; "
            r"images: shop/base",
        ),
        (
            TWO_IMAGES + "    requires: [{image: shop/web, alias: WEB}]\n",
            r"devloop.yaml:9:24: images\[1\].requires\[0\].image: the images require each other in a cycle: "
            r"shop/web -> shop/base -> shop/web; remove one of these",
        ),
        (
            TWO_IMAGES.replace("{image: shop/base,", "{image: shop/web,"),
            r"images\[0\].requires\[0\].image: expected another image, got \"shop/web\", the image itself",
        ),
        (
            TWO_IMAGES.replace("alias: BASE", "alias: 1BASE"),
            r"images\[0\].requires\[0\].alias: expected a build arg name",
        ),
        (
            TWO_IMAGES.replace("    context: web\n", "    context: web\n    args: {BASE: x}\n"),
            r"images\[0\].requires\[0\].alias: expected a build arg that nothing else sets, got \"BASE\", which args",
        ),
    ],
    ids=["unknown-ref", "cycle", "itself", "bad-alias", "alias-in-args"],
)
def test_requires_errors_are_located(tmp_path: Path, config: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_project(images_project(tmp_path, config))


def test_a_change_to_the_base_rebuilds_its_dependents(tmp_path: Path) -> None:
    from devloop.engine.decide import ImageUpdate, with_dependents

    web, base = load_project(images_project(tmp_path, TWO_IMAGES)).config.images
    live = ImageUpdate("shop/web", "live", changed=("app.py",))
    planned = with_dependents([web, base], [ImageUpdate("shop/base", "build", changed=("x",)), live])
    assert [(u.ref, u.kind) for u in planned] == [("shop/base", "build"), ("shop/web", "build")]
    assert planned[1].reason == "the image it requires, shop/base, changed" and planned[1].changed == ("app.py",)
    assert with_dependents([web, base], [live]) == [live]


# ------------------------------------------------------------------------------------------ profiles

PROFILED = """\
version: 1
name: shop
target: docker
manifests: [k8s.yaml]
images:
  - ref: shop/web
    context: web
    args: {MODE: dev}
    live_update: {sync: [{src: ., dest: /app}]}
resources:
  web: {port_forwards: ["8000:http"], labels: [front]}
watch: {debounce_ms: 50}
profiles:
  prod:
    target: kubernetes
    images:
      - {ref: shop/web, args: {MODE: prod}}
      - {ref: shop/tools, context: tools}
    resources:
      web: {labels: [prod]}
    watch: {debounce_ms: 500}
  empty:
"""


def profiled(tmp_path: Path, text: str = PROFILED) -> Path:
    return write(tmp_path, text, **{"web/Dockerfile": "FROM scratch\n", "tools/Dockerfile": "FROM scratch\n"})


def test_without_a_profile_the_top_level_holds_and_the_profiles_are_listed(tmp_path: Path) -> None:
    from devloop.config.loader import load_config

    config = load_config(profiled(tmp_path))
    assert config.profile is None and config.profiles == ("prod", "empty")
    assert config.target == "docker" and [i.ref for i in config.images] == ["shop/web"]
    assert config.image("shop/web").args == (("MODE", "dev"),)  # type: ignore[union-attr]


def test_a_profile_replaces_keys_and_merges_images_by_ref_and_resources_by_name(tmp_path: Path) -> None:
    from devloop.config.loader import load_config

    config = load_config(profiled(tmp_path), profile="prod")
    assert config.profile == "prod"
    assert config.target == "kubernetes" and config.watch.debounce_ms == 500  # replaced
    web, tools = config.images
    assert (web.ref, web.args) == ("shop/web", (("MODE", "prod"),))  # the profile's args replace the field
    assert web.context == tmp_path / "web" and web.live_update is not None  # the other fields are kept
    assert tools.ref == "shop/tools"  # a new ref is added
    settings = config.resource_settings("web")
    assert settings.labels == ("prod",) and [str(pf) for pf in settings.port_forwards] == ["8000:http"]
    assert load_config(profiled(tmp_path), profile="empty").images == load_config(profiled(tmp_path)).images


def test_an_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    from devloop.config.loader import load_config

    with pytest.raises(ConfigError) as caught:
        load_config(profiled(tmp_path), profile="prd", profile_source="DEVLOOP_PROFILE")
    assert caught.value.exit_code == ExitStatus.USAGE
    assert str(caught.value) == (
        'devloop.yaml:13:1: profiles: there is no profile "prd" (DEVLOOP_PROFILE) (did you mean "prod"?); the '
        "profiles of devloop.yaml are: prod, empty; pick one of them, or add it under `profiles:`"
    )


def test_errors_in_a_profile_point_at_its_lines(tmp_path: Path) -> None:
    from devloop.config.loader import load_config

    path = profiled(tmp_path, PROFILED.replace("{MODE: prod}", "{MODE: prod}, contxt: x"))
    load_config(path)  # not selected: its fields are checked when it is used
    expected = r"^devloop.yaml:17:[0-9]+: images\[0\]\.contxt: expected one of .* did you mean"
    with pytest.raises(ConfigError, match=expected):
        load_config(path, profile="prod")
    bad = profiled(tmp_path, PROFILED.replace("  empty:\n", "  empty: {name: other}\n"))
    with pytest.raises(ConfigError, match=r"profiles\.empty\.name: expected one of target, kubernetes"):
        load_config(bad)
