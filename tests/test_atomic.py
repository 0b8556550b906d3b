"""Atomic writes: a failed write keeps the previous file and leaves no temporary behind; numpy keeps the name."""
import numpy as np
import pytest

from smlib.atomic import atomic_path


def test_success_replaces_and_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "sub" / "result.json"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.json"]


@pytest.mark.parametrize("save, name", [(np.save, "feats.npy"), (np.savez, "stats.npz")])
def test_numpy_writers_do_not_append_a_second_suffix(tmp_path, save, name):
    with atomic_path(tmp_path / name) as tmp:
        save(tmp, np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
