"""The input digest / tag of an image and the ignore rules behind it (no Docker needed)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devloop.build import digest
from devloop.build.ignore import IgnoreRules, read_ignore_file
from devloop.config.model import ImageSpec
from devloop.errors import ConfigError
from tests.support.examples import examples


@pytest.fixture(autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    digest.clear_memory_cache()
    yield home
    digest.clear_memory_cache()


def make_context(root: Path, files: dict[str, str] | None = None, dockerignore: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    for rel, text in (files or {"app.py": "print('hi')\n", "lib/util.py": "X = 1\n"}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if dockerignore is not None:
        (root / ".dockerignore").write_text(dockerignore)
    return root


def spec(context: Path, **kwargs: object) -> ImageSpec:
    return ImageSpec(ref="shop/api", context=context, dockerfile=context / "Dockerfile", **kwargs)  # type: ignore[arg-type]


def age(path: Path, seconds: float = 60) -> None:
    """Set the mtime of ``path`` into the past, as for files that were not just written."""
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


def age_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            age(Path(folder) / name)


# -- the tag ----------------------------------------------------------------------------------------------


def test_tag_has_the_documented_shape(tmp_path: Path) -> None:
    tag = digest.image_tag(spec(make_context(tmp_path / "c")))
    assert tag.startswith("devloop-")
    assert len(tag) == len("devloop-") + 16
    assert all(ch in "0123456789abcdef" for ch in tag[len("devloop-") :])


def test_same_inputs_give_the_same_tag_even_in_another_folder(tmp_path: Path) -> None:
    one = make_context(tmp_path / "one")
    two = make_context(tmp_path / "two")
    assert digest.image_tag(spec(one)) == digest.image_tag(spec(one))
    assert digest.image_tag(spec(one)) == digest.image_tag(spec(two))
    assert digest.image_tag(spec(one), use_cache=False) == digest.image_tag(spec(one))


def test_touching_or_changing_an_ignored_file_keeps_the_tag(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "c", {"app.py": "a\n", "notes.md": "x\n", "logs/a.log": "1\n"}, "logs\n")
    image = spec(ctx, ignore=("*.md",))
    before = digest.image_tag(image)
    (ctx / "notes.md").write_text("changed, and longer\n")
    (ctx / "logs" / "a.log").write_text("2\n")
    (ctx / "logs" / "new.log").write_text("new\n")
    os.utime(ctx / "notes.md")
    assert digest.image_tag(image) == before


def test_touching_a_kept_file_keeps_the_tag(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "c")
    before = digest.image_tag(spec(ctx))
    os.utime(ctx / "app.py", (1, 1))
    assert digest.image_tag(spec(ctx)) == before


@pytest.mark.parametrize(
    "change",
    [
        "content",
        "same-size content",
        "mode",
        "new file",
        "removed file",
        "renamed file",
        "empty folder",
        "dockerfile",
        "dockerignore",
    ],
)
def test_changes_to_kept_inputs_change_the_tag(tmp_path: Path, change: str) -> None:
    ctx = make_context(tmp_path / "c")
    age_tree(ctx)
    image = spec(ctx)
    before = digest.image_tag(image)
    app = ctx / "app.py"
    if change == "content":
        app.write_text("print('bye')\n")
    elif change == "same-size content":
        stat = app.stat()
        app.write_text("print('ho')\n")
        os.utime(app, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: ctime tells
    elif change == "mode":
        app.chmod(0o755)
    elif change == "new file":
        (ctx / "lib" / "more.py").write_text("")
    elif change == "removed file":
        (ctx / "lib" / "util.py").unlink()
    elif change == "renamed file":
        (ctx / "lib" / "util.py").rename(ctx / "lib" / "utils.py")
    elif change == "empty folder":
        (ctx / "data").mkdir()
    elif change == "dockerfile":
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    elif change == "dockerignore":
        (ctx / ".dockerignore").write_text("# nothing ignored\n")
    assert digest.image_tag(image) != before


def test_build_args_target_and_ignore_change_the_tag(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "c")
    base = digest.image_tag(spec(ctx))
    with_arg = digest.image_tag(spec(ctx, args=(("PY", "3.12"),)))
    assert with_arg != base
    assert digest.image_tag(spec(ctx, args=(("PY", "3.11"),))) != with_arg
    assert digest.image_tag(spec(ctx, args=(("A", "1"), ("B", "2")))) == digest.image_tag(
        spec(ctx, args=(("B", "2"), ("A", "1")))
    )
    assert digest.image_tag(spec(ctx, target="dev")) != base
    assert digest.image_tag(spec(ctx, ignore=("lib",))) != base


def test_symlinks_count_by_their_target_string_and_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_text("outside the context\n")
    ctx = make_context(tmp_path / "c")
    (ctx / "link-to-dir").symlink_to(outside)
    (ctx / "dangling").symlink_to("does/not/exist")
    image = spec(ctx)
    before = digest.image_tag(image)
    assert {"link-to-dir", "dangling"} <= set(digest.context_files(image))

    (outside / "big.bin").write_text("changed outside: not part of the build\n")
    assert digest.image_tag(image) == before

    (ctx / "dangling").unlink()
    (ctx / "dangling").symlink_to("does/not/exist/either")
    assert digest.image_tag(image) != before


def test_file_and_symlink_with_the_same_text_differ(tmp_path: Path) -> None:
    a = make_context(tmp_path / "a", {"x": "target"})
    b = make_context(tmp_path / "b", {})
    (b / "x").symlink_to("target")
    assert digest.image_tag(spec(a)) != digest.image_tag(spec(b))


def test_context_files_keep_the_dockerfile_and_dockerignore_even_when_ignored(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "c", {"a.txt": "", "sub/b.txt": "", "sub/keep.txt": ""}, "*\n!sub/keep.txt\n")
    assert digest.context_files(spec(ctx)) == [".dockerignore", "Dockerfile", "sub/keep.txt"]


def test_a_dockerfile_specific_ignore_file_replaces_dockerignore(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "c", {"a.md": "", "b.txt": ""}, "*.txt\n")
    (ctx / "Dockerfile.dockerignore").write_text("*.md\n")
    files = digest.context_files(spec(ctx))
    assert "a.md" not in files
    assert "b.txt" in files


def test_missing_context_or_dockerfile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="build context"):
        digest.image_tag(spec(tmp_path / "nope"))
    ctx = make_context(tmp_path / "c")
    (ctx / "Dockerfile").unlink()
    with pytest.raises(ConfigError, match="Dockerfile"):
        digest.image_tag(spec(ctx))


def test_unreadable_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file: cannot make one unreadable")
    ctx = make_context(tmp_path / "c", {"secret": "x"})
    (ctx / "secret").chmod(0)
    with pytest.raises(ConfigError, match="secret"):
        digest.image_tag(spec(ctx))


# -- the cache ------------------------------------------------------------------------------------------


def test_unchanged_second_digest_reads_no_file_and_the_cache_lives_outside_the_project(
    tmp_path: Path, cache_home: Path
) -> None:
    ctx = make_context(tmp_path / "c", {f"pkg/m{i}.py": f"x = {i}\n" for i in range(50)})
    age_tree(ctx)
    listing = sorted(str(p.relative_to(ctx)) for p in ctx.rglob("*"))
    image = spec(ctx)
    first = digest.compute(image)
    assert first.hashed == 51  # 50 modules and the Dockerfile
    second = digest.compute(image)
    assert second.hashed == 0
    assert second.hexdigest == first.hexdigest

    digest.clear_memory_cache()  # as in a new process: served by the cache file
    third = digest.compute(image)
    assert third.hashed == 0
    assert third.hexdigest == first.hexdigest

    assert sorted(str(p.relative_to(ctx)) for p in ctx.rglob("*")) == listing
    cached = list((cache_home / "devloop" / "digest").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".json"

    (ctx / "pkg" / "m7.py").write_text("x = 'seven'\n")
    fourth = digest.compute(image)
    assert fourth.hashed == 1
    assert fourth.hexdigest != first.hexdigest


def test_files_written_just_now_are_not_trusted_by_the_cache(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "c", {"fresh.py": "1\n"})
    digest.compute(spec(ctx))
    # same size, same mtime, same inode: only the recent mtime makes the cache re-read it
    assert digest.compute(spec(ctx)).hashed >= 1


def test_a_broken_cache_file_is_ignored(tmp_path: Path, cache_home: Path) -> None:
    ctx = make_context(tmp_path / "c")
    age_tree(ctx)
    good = digest.image_tag(spec(ctx))
    for path in (cache_home / "devloop" / "digest").iterdir():
        path.write_text("{not json")
    digest.clear_memory_cache()
    assert digest.image_tag(spec(ctx)) == good


def test_an_unwritable_cache_folder_does_not_fail_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    digest.clear_memory_cache()
    ctx = make_context(tmp_path / "c")
    assert digest.image_tag(spec(ctx)).startswith("devloop-")


# -- ignore rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        (["*.md"], "README.md", True),
        (["*.md"], "docs/guide.md", False),  # "*" does not cross folders
        (["**/*.md"], "docs/guide.md", True),
        (["**/*.md"], "README.md", True),
        (["*.md", "!README.md"], "README.md", False),
        (["!README.md", "*.md"], "README.md", True),  # the last match wins
        (["node_modules"], "node_modules/a/b.js", True),  # a folder covers what is below it
        (["node_modules/"], "node_modules/a/b.js", True),
        (["/build"], "build/x", True),
        (["build"], "src/build", False),
        (["**/build"], "src/build/x", True),
        (["logs", "!logs/keep.log"], "logs/keep.log", False),
        (["logs", "!logs/keep.log"], "logs/other.log", True),
        (["a/**/z"], "a/b/c/z", True),
        (["a/**/z"], "a/z", True),
        (["?.txt"], "a.txt", True),
        (["?.txt"], "ab.txt", False),
        (["[ab].txt"], "b.txt", True),
        (["[!ab].txt"], "b.txt", False),
        (["*.MD"], "README.md", False),  # case-sensitive, as on Linux
        (["."], "anything", False),  # "." is ignored, as docker does
        (["*"], "Dockerfile", False),  # always sent
        (["*"], ".dockerignore", False),
        (["*"], "x/Dockerfile", True),
    ],
)
def test_ignore_rules_follow_dockerignore_semantics(patterns: list[str], path: str, ignored: bool) -> None:
    assert IgnoreRules(patterns).matches(path) is ignored


def test_read_ignore_file_handles_comments_blanks_and_leading_slashes(tmp_path: Path) -> None:
    path = tmp_path / ".dockerignore"
    path.write_text("\ufeff# comment\n\n  *.pyc  \n/build/\n! keep.pyc\n./docs/../tmp\n")
    assert read_ignore_file(path) == ["*.pyc", "build", "!keep.pyc", "tmp"]
    assert read_ignore_file(tmp_path / "missing") == []


def test_walk_lists_kept_files_without_folders_and_prunes(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "c",
        {"src/a.py": "", "src/b.pyc": "", "node_modules/x/y.js": "", "docs/keep/me.txt": "", "docs/other.txt": ""},
    )
    rules = IgnoreRules(["node_modules", "*/*.pyc", "docs", "!docs/keep"])
    assert sorted(rules.walk(ctx)) == ["Dockerfile", "docs/keep/me.txt", "src/a.py"]
    assert not rules._may_reinclude_below(("node_modules",))
    assert rules._may_reinclude_below(("docs",))


_NAMES = st.sampled_from(["a", "b", "src", "x.py", "y.md", "node_modules", "keep"])
_PATTERN = st.builds(
    lambda neg, parts: ("!" if neg else "") + "/".join(parts),
    st.booleans(),
    st.lists(
        st.sampled_from(["a", "b", "src", "*", "**", "*.py", "*.md", "keep", "node_modules", "?"]),
        min_size=1,
        max_size=3,
    ),
)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.lists(_NAMES, min_size=1, max_size=4), min_size=1, max_size=12),
    patterns=st.lists(_PATTERN, max_size=5),
)
def test_pruned_walk_equals_matching_every_path(
    tmp_path_factory: pytest.TempPathFactory, files: list[list[str]], patterns: list[str]
) -> None:
    root = tmp_path_factory.mktemp("walk")
    for parts in files:
        path = root.joinpath(*parts)
        # a name already used as a file cannot become a folder (and the other way round): skip those
        if any(root.joinpath(*parts[:i]).is_file() for i in range(1, len(parts))) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    rules = IgnoreRules(patterns)
    expected = set()
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            rel = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            if not rules.matches(rel):
                expected.add(rel)
    assert {entry.relpath for entry in rules.walk_entries(root)} == expected


def test_devloops_own_files_and_git_never_count(tmp_path: Path) -> None:
    """Issue 9.5: devloop.yaml, .devloopignore, manifests (files and kustomize folders) inside a context and
    `.git/` folders are not part of an image nor of its digest; everything else still counts."""
    from devloop.config.loader import load_config

    root = tmp_path / "proj"
    make_context(root, {"app.py": "print(1)\n", "k8s/deploy.yaml": "kind: List\n", "notes.txt": "n\n"})
    (root / "deploy/base").mkdir(parents=True)
    (root / "deploy/base/kustomization.yaml").write_text("resources: [svc.yaml]\n")
    (root / "deploy/base/svc.yaml").write_text("kind: Service\n")
    (root / "deploy/dev").mkdir()
    (root / "deploy/dev/kustomization.yaml").write_text("resources: [../base]\n")
    (root / ".git").mkdir()
    (root / ".git/HEAD").write_text("ref: refs/heads/main\n")
    config_path = root / "devloop.yaml"
    config_path.write_text(
        "version: 1\nname: own\nmanifests: [k8s/*.yaml, {kustomize: deploy/dev}]\n"
        "images: [{ref: own/app, context: .}]\n"
    )
    (root / ".devloopignore").write_text("*.tmp\n")
    (root / "sub").mkdir()

    def tag() -> str:
        (image,) = load_config(config_path).images
        return digest.image_tag(image, use_cache=False)

    (image,) = load_config(config_path).images
    kept = digest.context_files(image)
    assert "app.py" in kept and "notes.txt" in kept and "Dockerfile" in kept
    assert not [f for f in kept if f.startswith((".git", "k8s/", "deploy/")) or f in ("devloop.yaml", ".devloopignore")]
    first = tag()
    config_path.write_text(config_path.read_text() + "watch: {debounce_ms: 80}\n")
    (root / ".devloopignore").write_text("*.tmp\n*.bak\n")
    (root / "k8s/deploy.yaml").write_text("kind: List\nitems: []\n")
    (root / "deploy/base/svc.yaml").write_text("kind: Service\nmetadata: {name: x}\n")
    (root / ".git/HEAD").write_text("ref: refs/heads/other\n")
    (root / "sub/.git").mkdir(parents=True)
    assert tag() == first
    (root / "notes.txt").write_text("changed\n")
    assert tag() != first
