"""Image builds against the real Docker engine, with BuildKit (docker CLI) and with the docker SDK's builder."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devloop.build import digest
from devloop.build.builder import ImageBuilder, _ClassicOutput, _SdkStream, _write_context_tar, build_images
from devloop.build.dockercli import buildkit_cli
from devloop.build.ignore import IgnoreRules
from devloop.config.model import ImageSpec
from devloop.errors import BuildError, TargetUnavailableError
from tests.support import docker_env
from tests.support.images import busybox_missing, write_busybox_context

METHODS = ["buildkit", "sdk"]


@pytest.fixture(autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    digest.clear_memory_cache()
    yield
    digest.clear_memory_cache()


@pytest.fixture
def repo(docker_client: Any, unique_name: str) -> Iterator[str]:
    """A unique image repository for this test; every image tagged in it is removed afterwards."""
    problem = busybox_missing()
    if problem:
        docker_env.unavailable(problem)
    name = f"devloop-test/{unique_name}"
    yield name
    for repository in (name, f"{name}-a", f"{name}-b"):
        for image in docker_client.images.list(name=repository):
            for tag in image.tags:
                if tag.startswith(repository + ":"):
                    with contextlib.suppress(Exception):
                        docker_client.images.remove(tag, force=True)


def make_builder(method: str, project: str) -> ImageBuilder:
    if method == "buildkit" and buildkit_cli(dict(os.environ))[0] is None:
        docker_env.unavailable("no docker CLI on this machine runs BuildKit builds (/usr/bin/docker 20.10 does)")
    return ImageBuilder(project, method=method, labels=docker_env.session_labels())  # type: ignore[arg-type]


def image_spec(repo: str, context: Path, **kwargs: Any) -> ImageSpec:
    return ImageSpec(ref=repo, context=context, dockerfile=context / "Dockerfile", **kwargs)


def run_in(client: Any, reference: str, *argv: str) -> str:
    out = client.containers.run(reference, list(argv), remove=True, labels=docker_env.session_labels())
    return bytes(out).decode()


@pytest.mark.parametrize("method", METHODS)
def test_build_tags_labels_and_streams_output(
    method: str, repo: str, unique_name: str, docker_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = write_busybox_context(tmp_path / "ctx", ["COPY app.txt /app.txt"], {"app.txt": "hello\n"})
    image = image_spec(repo, ctx)
    lines: list[str] = []
    with caplog.at_level(logging.INFO, logger="devloop.build"):
        result = make_builder(method, unique_name).build(image, lines.append)

    assert result.built is True
    assert result.method == method
    assert result.tag == digest.image_tag(image)
    assert result.reference == f"{repo}:{result.tag}"
    assert lines, "the build output was not streamed"
    assert any(f"with {method}" in record.getMessage() for record in caplog.records)
    labels = docker_client.images.get(result.reference).labels
    assert labels["devloop.dev/built-for"] == unique_name
    assert labels["devloop.dev/built-by"] == "devloop"
    # not the labels of what devloop deploys: a container inherits its image's labels (down must not take it)
    assert "devloop.dev/project" not in labels and "app.kubernetes.io/managed-by" not in labels
    assert run_in(docker_client, result.reference, "cat", "/app.txt") == "hello\n"


@pytest.mark.parametrize("method", METHODS)
def test_second_build_of_unchanged_inputs_does_not_invoke_the_builder(
    method: str, repo: str, unique_name: str, docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = write_busybox_context(tmp_path / "ctx", ["RUN date > /built-at"])
    image = image_spec(repo, ctx)
    builder = make_builder(method, unique_name)
    first = builder.build(image, lambda line: None)
    created = docker_client.images.get(first.reference).attrs["Created"]

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the builder was invoked for an image that exists")

    monkeypatch.setattr(ImageBuilder, "_build_buildkit", must_not_run)
    monkeypatch.setattr(ImageBuilder, "_build_sdk", must_not_run)
    again = make_builder(method, unique_name).build(image, lambda line: None)
    assert again.built is False
    assert again.method == "cached"
    assert again.reference == first.reference
    assert docker_client.images.get(first.reference).attrs["Created"] == created


@pytest.mark.parametrize("method", METHODS)
def test_build_args_and_target_are_honoured(
    method: str, repo: str, unique_name: str, docker_client: Any, tmp_path: Path
) -> None:
    ctx = write_busybox_context(tmp_path / "ctx")
    base = (ctx / "Dockerfile").read_text().replace("FROM scratch", "FROM scratch AS base", 1)
    (ctx / "Dockerfile").write_text(
        base + "ARG GREETING=none\n"
        'RUN echo "$GREETING" > /greeting\n'
        "FROM base AS dev\nRUN echo dev > /stage\n"
        "FROM base AS prod\nRUN echo prod > /stage\n"
    )
    builder = make_builder(method, unique_name)
    dev = builder.build(image_spec(repo, ctx, args=(("GREETING", "hello dev"),), target="dev"), lambda line: None)
    prod = builder.build(image_spec(repo, ctx, args=(("GREETING", "hi prod"),), target="prod"), lambda line: None)
    assert dev.tag != prod.tag
    assert run_in(docker_client, dev.reference, "cat", "/greeting", "/stage") == "hello dev\ndev\n"
    assert run_in(docker_client, prod.reference, "cat", "/greeting", "/stage") == "hi prod\nprod\n"


@pytest.mark.parametrize("method", METHODS)
def test_failing_run_raises_build_error_naming_image_step_and_output(
    method: str, repo: str, unique_name: str, tmp_path: Path
) -> None:
    ctx = write_busybox_context(tmp_path / "ctx", ["RUN echo about to fail && false"])
    with pytest.raises(BuildError) as info:
        make_builder(method, unique_name).build(image_spec(repo, ctx), lambda line: None)
    error = info.value
    assert error.image == repo
    assert error.step is not None and "RUN echo about to fail && false" in error.step
    assert any("about to fail" in line for line in error.output_tail)
    assert 0 < len(error.output_tail) <= 15
    text = str(error)
    assert repo in text and "RUN echo about to fail" in text


@pytest.mark.parametrize("method", METHODS)
def test_the_image_gets_exactly_the_files_the_digest_counts(
    method: str, repo: str, unique_name: str, docker_client: Any, tmp_path: Path
) -> None:
    ctx = write_busybox_context(
        tmp_path / "ctx",
        ["COPY . /ctx"],
        {
            "src/app.py": "",
            "src/app.pyc": "",
            "docs/readme.md": "",
            "docs/keep/notes.md": "",
            "node_modules/pkg/index.js": "",
            "tmp/x.log": "",
            "top.md": "",
        },
    )
    (ctx / "empty-dir").mkdir()
    (ctx / "link").symlink_to("src/app.py")
    (ctx / ".dockerignore").write_text("# rules\nnode_modules\n**/*.pyc\ndocs\n!docs/keep\n")
    image = image_spec(repo, ctx, ignore=("tmp", "*.md", "!docs/keep/*.md"))
    result = make_builder(method, unique_name).build(image, lambda line: None)

    listing = run_in(docker_client, result.reference, "find", "/ctx", "-mindepth", "1")
    in_image = sorted(line.removeprefix("/ctx/") for line in listing.split())
    expected_files = digest.context_files(image)
    assert "top.md" not in expected_files and "docs/keep/notes.md" in expected_files
    in_image_files = [p for p in in_image if not (ctx / p).is_dir() or (ctx / p).is_symlink()]
    assert in_image_files == expected_files
    assert "empty-dir" in in_image


def test_the_choice_of_method_comes_with_its_reason(unique_name: str) -> None:
    builder = ImageBuilder(unique_name)
    method, why = builder.choose_method()
    cli, _ = buildkit_cli(dict(os.environ))
    assert method == ("buildkit" if cli else "sdk")
    assert why
    assert ImageBuilder(unique_name, method="sdk").choose_method() == ("sdk", "forced by the caller")
    probe = ImageBuilder(unique_name, docker_cli="/nonexistent/docker").choose_method()
    assert probe[0] == "sdk" and "/nonexistent/docker" in probe[1]


def test_no_engine_is_target_unavailable_with_how_to_start_one(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    builder = ImageBuilder("p", env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "PATH": "/usr/bin:/bin"})
    with pytest.raises(TargetUnavailableError) as info:
        builder.build(image_spec("devloop-test/none", ctx), lambda line: None)
    assert "no-engine.sock" in str(info.value)
    assert "start" in str(info.value) and "DOCKER_HOST" in str(info.value)


@pytest.mark.parametrize("method", METHODS)
def test_interrupt_stops_the_build_and_leaves_nothing_behind(
    method: str, repo: str, unique_name: str, tmp_path: Path, no_leaks: docker_env.Snapshot
) -> None:
    ctx = write_busybox_context(tmp_path / "ctx", ["RUN echo started && sleep 60"])
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if "started" in line:
            raise KeyboardInterrupt

    builder = make_builder(method, unique_name)
    with pytest.raises(KeyboardInterrupt):
        builder.build(image_spec(repo, ctx), on_line)
    builder.close()
    assert any("started" in line for line in seen)
    assert not builder.exists(f"{repo}:{digest.image_tag(image_spec(repo, ctx))}")
    builder.close()


def test_build_images_builds_several_in_parallel_in_order(repo: str, unique_name: str, tmp_path: Path) -> None:
    a = write_busybox_context(tmp_path / "a", ["RUN echo a > /name"])
    b = write_busybox_context(tmp_path / "b", ["RUN echo b > /name"])
    images = [image_spec(f"{repo}-a", a), image_spec(f"{repo}-b", b)]
    lines: list[tuple[str, str]] = []
    builder = ImageBuilder(unique_name, labels=docker_env.session_labels())
    results = build_images(images, builder, lambda ref, line: lines.append((ref, line)), parallel=2)
    assert [r.ref for r in results] == [f"{repo}-a", f"{repo}-b"]
    assert all(r.built for r in results)
    assert {ref for ref, _ in lines} == {f"{repo}-a", f"{repo}-b"}
    again = build_images(images, builder, lambda ref, line: None, parallel=2)
    assert [r.method for r in again] == ["cached", "cached"]


@pytest.mark.parametrize("method", METHODS)
def test_a_dockerfile_outside_the_context_is_used(
    method: str, repo: str, unique_name: str, docker_client: Any, tmp_path: Path
) -> None:
    ctx = write_busybox_context(tmp_path / "ctx", files={"data.txt": "from the context\n"})
    outside = tmp_path / "docker" / "dev.Dockerfile"
    outside.parent.mkdir()
    outside.write_text((ctx / "Dockerfile").read_text() + "COPY data.txt /data.txt\n")
    (ctx / "Dockerfile").unlink()
    image = ImageSpec(ref=repo, context=ctx, dockerfile=outside)
    result = make_builder(method, unique_name).build(image, lambda line: None)
    assert run_in(docker_client, result.reference, "cat", "/data.txt") == "from the context\n"


@pytest.mark.parametrize("method", METHODS)
def test_a_generated_dockerfile_builds_without_a_file_in_the_context(
    method: str, repo: str, unique_name: str, docker_client: Any, busybox_image: str, tmp_path: Path
) -> None:
    ctx = tmp_path / "site"
    ctx.mkdir()
    (ctx / "index.html").write_text("hi\n")
    text = f"FROM {busybox_image}\nCOPY . /srv/www\n"
    image = ImageSpec(ref=repo, context=ctx, dockerfile=ctx / "Dockerfile", dockerfile_text=text, recipe="static")
    result = make_builder(method, unique_name).build(image, lambda line: None)
    assert run_in(docker_client, result.reference, "ls", "/srv/www") == "index.html\n"
    assert sorted(p.name for p in ctx.iterdir()) == ["index.html"]


@pytest.mark.parametrize("method", METHODS)
def test_missing_base_image_names_it_and_says_it_could_not_be_pulled(
    method: str, repo: str, unique_name: str, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    base = f"devloop-missing-{unique_name}:1.0"
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN true\n")
    with pytest.raises(BuildError) as caught:
        make_builder(method, unique_name).build(image_spec(repo, ctx), lambda line: None)
    message = str(caught.value)
    first = message.splitlines()[0]
    assert f"devloop-missing-{unique_name}:1.0" in first and "could not be pulled" in first, message
    assert "save again" not in message


# ------------------------------------------------------------------------------- the SDK builder's pieces


def test_the_sdk_stream_becomes_whole_lines_and_its_error_the_reason() -> None:
    """The SDK's JSON chunks cut lines anywhere and mix progress with output; the lines come out whole, the
    error chunk ends the build's output and names the failing step."""
    lines: list[str] = []
    parser = _ClassicOutput()
    stream = _SdkStream(parser, lines.append)
    for chunk in [
        "not a chunk",
        {"status": "Pulling fs layer", "progress": "[==>   ]"},
        {"status": "Download complete"},
        {"stream": "Step 1/2 : FROM scratch\n ---> "},
        {"stream": "3f2a\r\nStep 2/2 : RUN exit 3\n"},
        {"aux": {"ID": "sha256:0"}},
        {"stream": " ---> Running in 5e1c"},
        {"errorDetail": {"message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n"}},
    ]:
        stream.feed(chunk)
    stream.flush()
    assert lines == [
        "Pulling fs layer [==>   ]",
        "Download complete",
        "Step 1/2 : FROM scratch",
        " ---> 3f2a",
        "Step 2/2 : RUN exit 3",
        " ---> Running in 5e1c",
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
    ]
    assert parser.error == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert parser.failing_step() == "[2/2] RUN exit 3"


def test_the_sdk_stream_flushes_a_last_line_without_newline_and_reads_plain_errors() -> None:
    lines: list[str] = []
    parser = _ClassicOutput()
    stream = _SdkStream(parser, lines.append)
    stream.feed({"stream": "Step 1/1 : COPY app /app"})
    stream.flush()
    stream.flush()  # nothing left: no empty line
    stream.feed({"error": "COPY failed: file not found in build context"})
    assert lines == ["Step 1/1 : COPY app /app", "COPY failed: file not found in build context"]
    assert parser.error == "COPY failed: file not found in build context"


def test_the_sdk_context_holds_the_kept_files_links_and_a_generated_dockerfile(tmp_path: Path) -> None:
    """What the SDK's builder sends: files and links as they are (owned by root), no socket, and a Dockerfile
    that is not a file of the context under a name of its own."""
    context = tmp_path / "ctx"
    (context / "app").mkdir(parents=True)
    (context / "app" / "main.py").write_text("print('hi')\n")
    (context / "link").symlink_to("app/main.py")
    (context / "skipped.log").write_text("x")
    (context / ".dockerignore").write_text("*.log\n")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(context / "app" / "control.sock"))
        image = ImageSpec(
            ref="x/y", context=context, dockerfile=context / "Dockerfile", dockerfile_text="FROM scratch\n"
        )
        with tempfile.TemporaryFile() as out:
            name = _write_context_tar(image, IgnoreRules.for_image(image), out)
            out.seek(0)
            with tarfile.open(fileobj=out) as tar:
                members = {m.name: m for m in tar.getmembers()}
                generated = tar.extractfile(name)
                assert generated is not None and generated.read() == b"FROM scratch\n"
                main = tar.extractfile("app/main.py")
                assert main is not None and main.read() == b"print('hi')\n"
    finally:
        server.close()
    assert name == ".devloop.Dockerfile"
    assert "skipped.log" not in members and "app/control.sock" not in members
    assert members["link"].issym() and members["link"].linkname == "app/main.py"
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
