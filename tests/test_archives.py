"""Live-update archives (devloop/targets/archives.py) without a container: what a planned archive holds when
paths vanish before it is streamed, the names it refuses, and the passwd/group lookups for the owner."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from devloop.targets import archives
from devloop.targets.base import FileCopy


def _names(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_paths_that_vanish_between_planning_and_streaming_are_left_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.txt").write_text("kept\n")
    (src / "gone.txt").write_text("gone\n")
    (src / "link").symlink_to("keep.txt")
    os.mkfifo(src / "fifo")  # not a file, folder or link: never synced
    members = archives.plan_archive([FileCopy(str(src), "/app")])
    assert sorted(m.name for m in members) == ["app", "app/gone.txt", "app/keep.txt", "app/link"]
    (src / "gone.txt").unlink()
    (src / "link").unlink()
    data = b"".join(archives.stream_archive(members, uid=1000, gid=1000))
    names = _names(data)
    assert sorted(names) == ["app", "app/keep.txt"]
    assert names["app/keep.txt"].uid == 1000 and names["app/keep.txt"].size == len("kept\n")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        handle = tar.extractfile("app/keep.txt")
        assert handle is not None and handle.read() == b"kept\n"


def test_a_link_is_archived_as_a_link(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("x")
    (tmp_path / "link").symlink_to("target.txt")
    names = _names(archives.build_archive([FileCopy(str(tmp_path / "link"), "/app/link")]))
    assert names["app/link"].issym() and names["app/link"].linkname == "target.txt"


@pytest.mark.parametrize(("dest", "rel"), [("/app", "../etc/passwd"), ("/app", "sub/../../etc")])
def test_a_name_that_would_leave_its_destination_is_refused(dest: str, rel: str) -> None:
    with pytest.raises(archives.UnsafePathError, match="would leave /app"):
        archives._member(dest, rel)


def test_owner_lookups_in_passwd_and_group() -> None:
    passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nodd:x:abc:1::/:/bin/sh\n"
    assert archives.parse_passwd(passwd, "app") == (1000, 1001)
    assert archives.parse_passwd(passwd, "nobody") is None
    assert archives.parse_passwd(passwd, "odd") is None  # not a number: unknown
    group = "root:x:0:\nstaff:x:50:app\nodd:x:zz:\n"
    assert archives.parse_group(group, "staff") == 50
    assert archives.parse_group(group, "wheel") is None
    assert archives.parse_group(group, "odd") is None
