"""utils.atomic.atomic_copy: a second name for a checkpoint's bytes without writing them again."""
import errno
import os

import pytest

from mmf_domainstudy.utils import atomic
from mmf_domainstudy.utils.atomic import atomic_copy, atomic_write_bytes


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard-link", "copy"])
def test_copy_has_the_bytes_and_a_later_write_to_one_name_leaves_the_other(tmp_path, monkeypatch, hard_links):
    if not hard_links:
        def no_links(source, target):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(atomic.os, "link", no_links)
    first, second = tmp_path / "model_2.ckpt", tmp_path / "best.ckpt"
    atomic_write_bytes(first, b"update 2")
    atomic_write_bytes(second, b"an older best")
    atomic_copy(first, second)
    assert second.read_bytes() == b"update 2"
    assert os.path.samefile(first, second) is hard_links
    atomic_write_bytes(first, b"update 3")  # as current.ckpt is rewritten while best.ckpt stays
    assert (first.read_bytes(), second.read_bytes()) == (b"update 3", b"update 2")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best.ckpt", "model_2.ckpt"]  # no temp file left
