"""Image builds: BuildKit through the docker CLI when that works, else the docker SDK's builder.

:class:`ImageBuilder` tags every image ``<ref>:devloop-<16 hex>`` (see :mod:`devloop.build.digest`). An
image whose reference already exists in the engine is never rebuilt. Otherwise:

- ``buildkit``: ``DOCKER_BUILDKIT=1 docker build --progress=plain`` with the first docker CLI that
  supports it (probed once per process, see :func:`devloop.build.dockercli.buildkit_cli`). The image's
  ignore rules are handed to BuildKit as a ``<Dockerfile>.dockerignore`` next to a copy of the Dockerfile
  in a temporary folder (outside the project), so docker sends exactly the files the digest counted.
- ``sdk``: ``APIClient.build`` with a tar of exactly the kept files (written to an anonymous temporary
  file), streaming the ``stream`` lines.

The choice and its reason are logged on the ``devloop.build`` logger (INFO, shown with ``--verbose``).
Output goes line by line to ``on_line``. Failures raise :class:`~devloop.errors.BuildError` naming the
image, the failing step and the last lines of output. Built images get the labels of
:func:`devloop.build.images.image_labels` (their own set: a container inherits them).

Thread-safe: one builder may build several images at once; two builds of the same reference are
serialised (the second finds the image and reports ``cached``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from devloop import dockerengine
from devloop.build import digest as digest_mod
from devloop.build import dockercli
from devloop.build.ignore import DOCKERIGNORE, IgnoreRules
from devloop.build.images import image_labels
from devloop.config.model import ImageSpec
from devloop.errors import BuildError, DevloopError, InterruptedByUser
from devloop.util import ProcessGroup, stream_process

log = logging.getLogger("devloop.build")

Method = Literal["buildkit", "sdk", "cached"]
MethodChoice = Literal["auto", "buildkit", "sdk"]
OnLine = Callable[[str], None]

TAIL_LINES = 15
_MISSING_BUILDX = ("buildx component is missing", "BuildKit is enabled but")


@dataclass(frozen=True)
class BuildResult:
    ref: str
    tag: str
    reference: str  # "<ref>:<tag>"
    built: bool  # False when the reference already existed
    method: Method
    seconds: float


class ImageBuilder:
    """Builds images for one project. ``method`` forces "buildkit" or "sdk" (default "auto")."""

    def __init__(
        self,
        project: str,
        *,
        method: MethodChoice = "auto",
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        docker_cli: str | None = None,
    ) -> None:
        self.project = project
        self.method = method
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.labels: dict[str, str] = {**(labels or {}), **image_labels(project)}
        self._docker_cli = docker_cli
        self._local = threading.local()
        self._locks_guard = threading.Lock()
        self._ref_locks: dict[str, threading.Lock] = {}
        self._children = ProcessGroup()
        self._cancelled = threading.Event()

    # -- public --------------------------------------------------------------------------------------

    def build(self, image: ImageSpec, on_line: OnLine) -> BuildResult:
        """Build ``image`` unless its reference exists; see the module doc. The images it requires
        (``images[].requires``) are built first, and their references become its build args (so a change to
        one of them changes its tag too)."""
        started = time.monotonic()
        references = {req.image.ref: self.build(req.image, on_line).reference for req in image.requires}
        image = digest_mod.with_required(image, references)
        tag = digest_mod.image_tag(image)
        reference = f"{image.ref}:{tag}"
        with self._lock_for(reference):
            if self.exists(reference):
                log.info("image %s exists: not rebuilt", reference)
                return BuildResult(image.ref, tag, reference, False, "cached", time.monotonic() - started)
            method, why = self.choose_method()
            log.info("building image %s with %s: %s", reference, method, why)
            if method == "buildkit":
                try:
                    self._build_buildkit(image, reference, on_line)
                except _BuildKitUnusable as exc:
                    dockercli.mark_cli_unusable(self.env, str(exc))
                    log.info("BuildKit through the docker CLI failed to start (%s); using the docker SDK", exc)
                    method = "sdk"
                    self._build_sdk(image, reference, on_line)
            else:
                self._build_sdk(image, reference, on_line)
            if not self.exists(reference):
                raise BuildError(image.ref, None, [], reason=f"the build finished but {reference} does not exist")
        seconds = time.monotonic() - started
        log.info("built image %s in %.1f s (%s)", reference, seconds, method)
        return BuildResult(image.ref, tag, reference, True, method, seconds)

    def exists(self, reference: str) -> bool:
        """Does the engine have an image named ``reference``?"""
        import docker.errors

        api = self._api()
        try:
            api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            if dockerengine.is_connection_error(exc):
                raise dockerengine.unavailable(self.env, exc) from exc
            if exc.status_code == 404:
                return False
            raise BuildError(reference, None, [], reason=f"the engine could not inspect it: {exc}") from exc
        except Exception as exc:
            if dockerengine.is_connection_error(exc):
                raise dockerengine.unavailable(self.env, exc) from exc
            raise
        return True

    def warm_up(self) -> None:
        """Find the BuildKit CLI in the background now (see :func:`dockercli.probe_in_background`), while the
        caller does other things before its first build."""
        if self.method != "sdk" and self._docker_cli is None:
            dockercli.probe_in_background(self.env)

    def choose_method(self) -> tuple[Literal["buildkit", "sdk"], str]:
        """The build method and why: forced by the constructor, else BuildKit when a docker CLI runs it."""
        if self.method == "sdk":
            return "sdk", "forced by the caller"
        if self._docker_cli is not None:
            problem = dockercli.probe_buildkit_cli(self._docker_cli, self.env)
            cli, why = (
                (self._docker_cli, f"{self._docker_cli} runs BuildKit builds")
                if problem is None
                else (
                    None,
                    problem,
                )
            )
        else:
            cli, why = dockercli.buildkit_cli(self.env)
        if cli is not None:
            self._local.cli = cli
            return "buildkit", why + (" (forced by the caller)" if self.method == "buildkit" else "")
        if self.method == "buildkit":
            raise DevloopError(f"BuildKit builds were asked for, but no docker CLI can run them: {why}.")
        return "sdk", f"no docker CLI runs BuildKit builds: {why}"

    def cancel(self) -> None:
        """Stop every build in progress (from any thread); they raise InterruptedByUser."""
        self._cancelled.set()
        self._children.terminate_all()

    def close(self) -> None:
        client = getattr(self._local, "api", None)
        if client is not None:
            client.close()
            self._local.api = None

    # -- BuildKit through the CLI --------------------------------------------------------------------

    def _build_buildkit(self, image: ImageSpec, reference: str, on_line: OnLine) -> None:
        cli: str = getattr(self._local, "cli", None) or self._docker_cli or "docker"
        rules = IgnoreRules.for_image(image)
        with tempfile.TemporaryDirectory(prefix="devloop-build-") as tmp:
            # A copy of the Dockerfile with a Dockerfile-specific ignore file next to it: BuildKit then
            # applies exactly the rules the digest used (the context's .dockerignore and `ignore:`).
            dockerfile = Path(tmp) / image.dockerfile.name
            dockerfile.write_bytes(digest_mod.dockerfile_bytes(image))
            ignore_lines = [*rules.patterns, *(f"!{keep}" for keep in rules.always_keep)]
            (Path(tmp) / (dockerfile.name + DOCKERIGNORE)).write_text("\n".join(ignore_lines) + "\n")
            argv = [cli, "build", "--progress=plain", "-f", str(dockerfile), "-t", reference]
            argv += self._common_flags(image)
            argv.append(str(image.context))
            env = {**self.env, "DOCKER_BUILDKIT": "1", "DOCKER_HOST": dockerengine.engine_address(self.env)}
            parser = _BuildKitOutput()

            def line(text: str) -> None:
                parser.feed(text)
                on_line(text)

            code = self._stream(argv, line, env=env)
        if code != 0:
            if any(marker in "\n".join(parser.tail) for marker in _MISSING_BUILDX):
                raise _BuildKitUnusable(f"{cli}: {parser.tail[-1] if parser.tail else 'BuildKit unavailable'}")
            if any("Cannot connect to the Docker daemon" in text for text in parser.tail):
                raise dockerengine.unavailable(self.env, parser.tail[-1])
            step = parser.failing_step()
            base = base_image_reason(step, parser.reason(code))
            raise BuildError(image.ref, None if base else step, parser.tail_lines(), reason=base or parser.reason(code))

    def _common_flags(self, image: ImageSpec) -> list[str]:
        flags: list[str] = []
        for key, value in sorted(self.labels.items()):
            flags += ["--label", f"{key}={value}"]
        for key, value in sorted(image.args):
            flags += ["--build-arg", f"{key}={value}"]
        if image.target:
            flags += ["--target", image.target]
        return flags

    def _stream(self, argv: Sequence[str], on_line: OnLine, *, env: Mapping[str, str]) -> int:
        """devloop.util.stream_process, with the child in this builder's group so that cancel() can stop it."""
        if self._cancelled.is_set():
            raise InterruptedByUser()
        code = stream_process(argv, on_line, env=env, inherit_env=False, group=self._children)
        if self._cancelled.is_set():
            raise InterruptedByUser()
        return code

    # -- the docker SDK's builder ----------------------------------------------------------------------

    def _build_sdk(self, image: ImageSpec, reference: str, on_line: OnLine) -> None:
        import docker.errors

        rules = IgnoreRules.for_image(image)
        api = self._api()
        parser = _ClassicOutput()
        output = _SdkStream(parser, on_line)
        with tempfile.TemporaryFile(prefix="devloop-context-") as context_tar:
            dockerfile_name = _write_context_tar(image, rules, context_tar)
            context_tar.seek(0)
            try:
                stream = api.build(
                    fileobj=context_tar,
                    custom_context=True,
                    encoding=None,
                    dockerfile=dockerfile_name,
                    tag=reference,
                    buildargs=dict(image.args),
                    target=image.target,
                    labels=dict(self.labels),
                    rm=True,
                    forcerm=True,
                    decode=True,
                )
                for chunk in stream:
                    if self._cancelled.is_set():
                        self.close()
                        raise InterruptedByUser()
                    output.feed(chunk)
                output.flush()
            except KeyboardInterrupt:
                self.close()  # drops the connection: the engine cancels the build
                raise
            except docker.errors.APIError as exc:
                if dockerengine.is_connection_error(exc):
                    raise dockerengine.unavailable(self.env, exc) from exc
                message = getattr(exc, "explanation", None) or str(exc)
                output.emit(str(message))
                parser.error = str(message)
            except Exception as exc:
                if dockerengine.is_connection_error(exc):
                    raise dockerengine.unavailable(self.env, exc) from exc
                raise
        if parser.error is not None:
            step = parser.failing_step()
            base = base_image_reason(step, parser.error)
            raise BuildError(image.ref, None if base else step, parser.tail_lines(), reason=base or parser.error)

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            api = dockerengine.api_client(self.env)
            self._local.api = api
        return api

    def _lock_for(self, reference: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._ref_locks.get(reference)
            if lock is None:
                lock = self._ref_locks[reference] = threading.Lock()
            return lock


def build_images(
    images: Iterable[ImageSpec],
    builder: ImageBuilder,
    on_line: Callable[[str, str], None],
    parallel: int = 2,
) -> list[BuildResult]:
    """Build ``images`` with at most ``parallel`` builds at once; results in the order of ``images``.

    ``on_line(ref, line)`` gets every output line. Every build runs to its end; then the first failure is
    raised. An interrupt cancels the builds in progress.
    """
    todo = list(images)

    def one(image: ImageSpec) -> BuildResult:
        def line(text: str) -> None:
            on_line(image.ref, text)

        return builder.build(image, line)

    if parallel <= 1 or len(todo) <= 1:
        return [one(image) for image in todo]
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="devloop-build")
    try:
        futures = [pool.submit(one, image) for image in todo]
        results: list[BuildResult] = []
        first_error: BaseException | None = None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return results
    except KeyboardInterrupt:
        builder.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- the build context for the SDK -------------------------------------------------------------------------


def _write_context_tar(image: ImageSpec, rules: IgnoreRules, fileobj: Any) -> str:
    """Write the kept files of ``image``'s context as a tar; return the Dockerfile's name inside it."""
    inside = None
    if image.dockerfile_text is None:  # a recipe's Dockerfile is not a file of the context
        with contextlib.suppress(ValueError):
            inside = image.dockerfile.resolve().relative_to(image.context.resolve()).as_posix()
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = sorted(rules.walk_entries(image.context), key=lambda e: e.relpath)
        for entry in entries:
            info = tar.gettarinfo(entry.path, arcname=entry.relpath)
            if info is None:  # a socket: docker skips these too
                continue
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(entry.path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
        if inside is None:
            name = ".devloop.Dockerfile"
            data = digest_mod.dockerfile_bytes(image)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            import io

            tar.addfile(info, io.BytesIO(data))
            return name
    return inside


# -- reading build output ----------------------------------------------------------------------------------

_BK_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .*?)(?: #\d+)?$")
_BK_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_BK_SUMMARY = re.compile(r"^ ?> (\[[^\]]+\] .*?):?$")
_NOISE = re.compile(r"^(#\d+ (sha256:[0-9a-f]+|CACHED|DONE [\d.]+s)|-+)\s*$")
_BK_PROGRESS = re.compile(r"^#\d+ (sha256:|\d+\.\d+ |DONE|CACHED|extracting|transferring|resolve|naming|writing)")


class _BuildKitUnusable(Exception):
    """The docker CLI could not run a BuildKit build at all (not a Dockerfile problem)."""


class _Tail:
    def __init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=200)

    def tail_lines(self) -> list[str]:
        return [line for line in self.tail if line.strip() and not _NOISE.match(line)][-TAIL_LINES:]


class _BuildKitOutput(_Tail):
    """Follows ``--progress=plain`` output: which vertex is which step, and which one failed."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[str, str] = {}
        self.failed: str | None = None
        self.error: str | None = None
        self.summary_step: str | None = None

    def feed(self, line: str) -> None:
        self.tail.append(line)
        match = _BK_ERROR.match(line)
        if match:
            self.failed = match.group(1)
            self.error = match.group(2).strip()
            return
        match = _BK_STEP.match(line)
        if match:
            self.steps.setdefault(match.group(1), match.group(2).strip())
            return
        match = _BK_SUMMARY.match(line)
        if match:
            self.summary_step = match.group(1).strip()

    def failing_step(self) -> str | None:
        if self.failed is not None and self.failed in self.steps:
            step = self.steps[self.failed]
            if not step.startswith("[internal]"):
                return step
        return self.summary_step

    def reason(self, code: int) -> str:
        for line in reversed(self.tail):
            text = line.strip()
            if not text or _BK_PROGRESS.match(text):
                continue
            for prefix in ("ERROR: ", "error: "):
                if text.startswith(prefix):
                    text = text[len(prefix) :]
            return text
        return self.error or f"docker build exited with {code}"


_CLASSIC_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
# the step that fails when a base image is neither local nor pullable: BuildKit's metadata load, either's FROM
_BASE_STEP = re.compile(r"^(?:\[internal\] load metadata for (?P<meta>\S+)|\[\d+/\d+\] FROM (?P<from>\S+).*)$")


def base_image_reason(step: str | None, error: str) -> str | None:
    """When ``step`` is where a build gets its base image, the sentence saying which image could not be pulled
    (with the engine's last words on why); else None."""
    match = _BASE_STEP.match(step or "")
    if match is None:
        return None
    image = (match.group("meta") or match.group("from") or "").split("@", 1)[0]
    if image.startswith("$") or image.lower() == "scratch":  # an ARG or scratch: not a pull problem
        return None
    why = error.strip().rsplit(": ", 1)[-1].strip()[:160] or "no answer"
    return (
        f"the base image {image} is not in the local Docker engine and could not be pulled ({why}); "
        f"pull or build it first, or change the FROM line"
    )


class _SdkStream:
    """The SDK builder's stream of JSON chunks as whole lines, for ``on_line`` and the classic-output parser;
    an error chunk sets the parser's error."""

    def __init__(self, parser: _ClassicOutput, on_line: OnLine) -> None:
        self.parser = parser
        self.on_line = on_line
        self.pending = ""  # the start of a line whose end has not come yet

    def emit(self, text: str) -> None:
        self.parser.feed(text)
        self.on_line(text)

    def feed(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        text = chunk.get("stream")
        if text is None and chunk.get("status"):
            text = str(chunk["status"]) + (f" {chunk['progress']}" if chunk.get("progress") else "") + "\n"
        if text:
            self.pending += text
            *complete, self.pending = self.pending.split("\n")
            for piece in complete:
                self.emit(piece.rstrip("\r"))
        error = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message")
        if error:
            self.flush()
            self.emit(str(error).rstrip())
            self.parser.error = str(error).strip()

    def flush(self) -> None:
        if self.pending:
            self.emit(self.pending)
            self.pending = ""


class _ClassicOutput(_Tail):
    """Follows the classic builder's stream: the last ``Step N/M : ...`` line is the failing one."""

    def __init__(self) -> None:
        super().__init__()
        self.step: str | None = None
        self.error: str | None = None

    def feed(self, line: str) -> None:
        self.tail.append(line)
        match = _CLASSIC_STEP.match(line.strip())
        if match:
            self.step = f"[{match.group(1)}/{match.group(2)}] {match.group(3).strip()}"

    def failing_step(self) -> str | None:
        return self.step
