"""The watch ignore rules: .git, .devloop, watch.ignore, .devloopignore, and each image's docker rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.config.model import Config, ImageSpec, WatchSettings
from devloop.engine.ignore import WatchIgnore


def image(
    root: Path, ref: str, context: str, ignore: tuple[str, ...] = (), dockerfile: str = "Dockerfile"
) -> ImageSpec:
    ctx = root / context
    ctx.mkdir(parents=True, exist_ok=True)
    return ImageSpec(ref=ref, context=ctx, dockerfile=ctx / dockerfile, ignore=ignore)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


# --------------------------------------------------------------------------------------- global


def test_git_and_devloop_state_are_always_ignored(root: Path) -> None:
    rules = WatchIgnore(root)
    assert rules(root / ".git" / "index")
    assert rules(root / ".git" / "objects" / "ab" / "cdef")
    assert rules(root / "vendor" / "lib" / ".git" / "HEAD")  # a nested repository
    assert rules(root / ".git", is_dir=True)
    assert rules(root / ".devloop" / "state.json")
    assert rules(root / ".devloop", is_dir=True)
    assert not rules(root / "src" / ".devloop" / "x")  # only the root's state folder
    assert not rules(root / ".gitignore")
    assert not rules(root / "src" / "app.py")


def test_watch_ignore_patterns_use_gitignore_syntax(root: Path) -> None:
    rules = WatchIgnore(root, patterns=["**/node_modules/**", "*.log", "/build/", "docs/*.md"])
    assert rules(root / "node_modules" / "left-pad" / "index.js")
    assert rules(root / "web" / "node_modules" / "a.js")
    assert rules(root / "node_modules", is_dir=True)  # the folder itself: its content is all ignored
    assert rules(root / "debug.log")
    assert rules(root / "deep" / "er" / "x.log")
    assert rules(root / "build" / "out.o")
    assert rules(root / "build", is_dir=True)
    assert not rules(root / "build")  # a file named build: "/build/" matches folders only
    assert not rules(root / "src" / "build" / "x")  # anchored at the root
    assert rules(root / "docs" / "a.md")
    assert not rules(root / "docs" / "sub" / "a.md")
    assert not rules(root / "src" / "app.py")


def test_negation_re_includes(root: Path) -> None:
    rules = WatchIgnore(root, patterns=["*.log", "!important.log"])
    assert rules(root / "a.log")
    assert not rules(root / "important.log")
    assert not rules(root / "sub" / "important.log")


def test_devloopignore_adds_patterns_after_watch_ignore(root: Path) -> None:
    (root / ".devloopignore").write_text("# generated files\n\ngen/\n*.pyc\n!keep.pyc\n")
    rules = WatchIgnore.load(root, patterns=["*.tmp"])
    assert rules(root / "gen" / "api.py")
    assert rules(root / "a" / "b.pyc")
    assert not rules(root / "keep.pyc")
    assert rules(root / "x.tmp")
    assert not rules(root / "# generated files")
    assert not rules(root / ".devloopignore")
    assert root / ".devloopignore" in rules.rule_files()


def test_devloopignore_can_re_include_what_watch_ignore_drops(root: Path) -> None:
    (root / ".devloopignore").write_text("!keep.log\n")
    rules = WatchIgnore.load(root, patterns=["*.log"])
    assert rules(root / "other.log")
    assert not rules(root / "keep.log")


def test_a_missing_devloopignore_is_fine(root: Path) -> None:
    rules = WatchIgnore.load(root)
    assert not rules(root / "a.py")


def test_paths_outside_the_root_are_not_ignored(root: Path) -> None:
    rules = WatchIgnore(root / "proj", patterns=["*"])
    assert not rules(root / "elsewhere" / "a.py")
    assert not rules(root / "proj")


# ---------------------------------------------------------------------------------------- images


def test_image_ignore_rules_apply_to_that_image_only(root: Path) -> None:
    api = image(root, "shop/api", "api", ignore=("*.md",))
    (api.context / ".dockerignore").write_text("tests/\n__pycache__\n")
    web = image(root, "shop/web", "web")
    rules = WatchIgnore.load(root, images=[api, web])

    assert rules.ignored_for_image(root / "api" / "README.md", api)
    assert rules.ignored_for_image(root / "api" / "tests" / "test_x.py", api)
    assert rules.ignored_for_image(root / "api" / "pkg" / "__pycache__" / "m.pyc", api) is False  # not at root
    assert rules.ignored_for_image(root / "api" / "__pycache__" / "m.pyc", api)
    assert not rules.ignored_for_image(root / "api" / "app.py", api)
    # outside an image's context: nothing for that image
    assert rules.ignored_for_image(root / "web" / "index.html", api)
    assert not rules.ignored_for_image(root / "web" / "index.html", web)
    assert not rules.ignored_for_image(root / "web" / "README.md", web)
    # dropped entirely only when every image holding it ignores it
    assert rules(root / "api" / "README.md")
    assert not rules(root / "api" / "app.py")
    assert not rules(root / "web" / "README.md")
    assert rules.images_for(root / "web" / "index.html") == [web]
    assert rules.images_for(root / "api" / "README.md") == []


def test_dockerignore_negation_and_always_kept_files(root: Path) -> None:
    api = image(root, "shop/api", "api")
    (api.context / ".dockerignore").write_text("*\n!app/\n")
    rules = WatchIgnore.load(root, images=[api])
    assert rules.ignored_for_image(root / "api" / "notes.txt", api)
    assert not rules.ignored_for_image(root / "api" / "app" / "main.py", api)
    assert not rules.ignored_for_image(root / "api" / "Dockerfile", api)  # docker always sends it
    assert not rules.ignored_for_image(root / "api" / ".dockerignore", api)
    assert not rules(root / "api" / ".dockerignore")
    assert root / "api" / ".dockerignore" in rules.rule_files()


def test_a_path_in_two_contexts_is_kept_while_one_image_wants_it(root: Path) -> None:
    whole = image(root, "shop/all", ".", ignore=("api/",))
    api = image(root, "shop/api", "api")
    rules = WatchIgnore.load(root, images=[whole, api])
    path = root / "api" / "main.py"
    assert rules.ignored_for_image(path, whole)
    assert not rules.ignored_for_image(path, api)
    assert not rules(path)
    both = WatchIgnore.load(root, images=[whole, image(root, "shop/api2", "api", ignore=("*.py",))])
    assert both(path)


def test_global_rules_win_over_images(root: Path) -> None:
    api = image(root, "shop/api", "api")
    rules = WatchIgnore.load(root, patterns=["**/*.log"], images=[api])
    assert rules.ignored_for_image(root / "api" / "x.log", api)
    assert rules(root / "api" / "x.log")


def test_paths_no_image_holds_are_kept(root: Path) -> None:
    api = image(root, "shop/api", "api", ignore=("*",))
    rules = WatchIgnore.load(root, images=[api])
    assert not rules(root / "k8s" / "deploy.yaml")
    assert not rules(root / "devloop.yaml")


def test_config_files_are_never_hidden_by_image_rules(root: Path) -> None:
    whole = image(root, "shop/all", ".", ignore=("*.yaml", "k8s", "charts"))
    rules = WatchIgnore.load(
        root,
        images=[whole],
        config_files=[root / "devloop.yaml", root / "k8s" / "deploy.yaml", root / "charts" / "shop"],
    )
    assert rules.ignored_for_image(root / "k8s" / "deploy.yaml", whole)
    assert not rules(root / "devloop.yaml")
    assert not rules(root / "k8s" / "deploy.yaml")
    assert not rules(root / "charts" / "shop" / "templates" / "svc.yaml")  # inside a chart folder
    assert rules(root / "k8s" / "other.yaml")  # not a manifest
    assert rules.is_config_file(root / "charts" / "shop" / "values.yaml")
    assert not rules.is_config_file(root / "charts" / "other.yaml")


def test_from_config(root: Path) -> None:
    api = image(root, "shop/api", "api", ignore=("*.md",))
    config = Config(
        path=root / "devloop.yaml",
        name="shop",
        images=(api,),
        watch=WatchSettings(ignore=("**/.cache/**",)),
    )
    rules = WatchIgnore.from_config(config, [root / "k8s" / "app.yaml"])
    assert rules(root / "x" / ".cache" / "y")
    assert rules(root / "api" / "README.md")
    assert not rules(root / "devloop.yaml")
    assert rules.is_config_file(root / "k8s" / "app.yaml")
    assert rules.is_config_file(root / "devloop.yaml")
    assert "shop/api" in repr(rules)


def test_image_matchers_can_be_injected(root: Path) -> None:
    spec = ImageSpec(ref="x", context=root / "x", dockerfile=root / "x" / "Dockerfile")
    rules = WatchIgnore(root, images=[(spec, lambda rel: rel.startswith("gen/"))])
    assert rules(root / "x" / "gen" / "a.py")
    assert not rules(root / "x" / "a.py")
    other = ImageSpec(ref="y", context=root / "y", dockerfile=root / "y" / "Dockerfile")
    assert rules.ignored_for_image(root / "x" / "a.py", other)  # unknown image: only its context counts
    assert not rules.ignored_for_image(root / "y" / "a.py", other)
