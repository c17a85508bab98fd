"""What `devloop ci` prints at its end (pure): the summary on stdout, the reasons of a failure on stderr."""

from __future__ import annotations

from devloop.commands.ci import failure_sentences
from devloop.engine.loop import summary_lines
from devloop.engine.state import ResourceView, Snapshot, Status


def snapshot(*views: ResourceView) -> Snapshot:
    return Snapshot(project="shop", target="docker", where="local", resources=views)


def view(name: str, status: Status, reason: str = "") -> ResourceView:
    return ResourceView(name=name, kind="Deployment", labels=(), status=status, reason=reason)


def test_summary_says_an_update_ci_stopped_was_cancelled() -> None:
    lines = summary_lines(
        snapshot(
            view("api", Status.FAILED, "build of image shop/api failed at step [2/2] RUN false"),
            view("web", Status.BUILDING),
            view("db", Status.READY),
        )
    )
    assert lines == [
        "api  failed: build of image shop/api failed at step [2/2] RUN false",
        "web  cancelled while building",
        "db   ready",
    ]


def test_failure_sentences_one_per_failed_resource() -> None:
    snap = snapshot(
        view("api", Status.FAILED, "crash loop: container api exited with code 3."),
        view("web", Status.FAILED, ""),
        view("db", Status.BUILDING),
    )
    assert failure_sentences(snap, 1800) == [
        "resource api failed: crash loop: container api exited with code 3.",
        "resource web failed: see its output above.",
    ]


def test_failure_sentence_after_the_timeout_names_what_was_not_ready() -> None:
    snap = snapshot(view("api", Status.READY), view("web", Status.STARTING, "0/1 ready"), view("db", Status.PENDING))
    [sentence] = failure_sentences(snap, 90)
    assert sentence.startswith("gave up after 90 s (--timeout) with resources not ready: web (starting), db (pending)")
