"""The committed record names no machine: no absolute path in results/ or in a notebook's outputs."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a path of three or more components starting at "/" right after a quote, white space or an escaped newline
ABSOLUTE = re.compile(r'(?:["\s]|\\n)((?:/[A-Za-z0-9_.+-]+){3,})')


def committed(*patterns: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out]


#: packed images (smlib.results.pack_uint8) are base64, whose alphabet holds "/": not paths
PACKED = re.compile(r'"b64": "[A-Za-z0-9+/=]*"')


def paths_in(text: str) -> list[str]:
    return sorted({m.group(1) for m in ABSOLUTE.finditer(PACKED.sub('"b64": ""', text))})


def test_the_pattern_finds_what_it_should():
    assert paths_in('{"b64": "/wD/ADcA/wAA", "run_dir": "runs/x"}') == []
    assert paths_in('{"b64": "/wD/ADcA/wAA", "run_dir": "/home/ana/x/y"}') == ["/home/ana/x/y"]
    assert ABSOLUTE.search('"run_dir": "/home/ana/smlib/runs/x"')
    assert ABSOLUTE.search("python /work/main/smlib/__main__.py diffusion")
    assert not ABSOLUTE.search('"run_dir": "runs/autoencoders/small/esm-6c46e18e68"')
    assert not ABSOLUTE.search("FID-250 over 16 bins, 1/32 cycles/px")


@pytest.mark.parametrize("path", committed("results", "notebooks/*.ipynb"), ids=lambda p: p.name)
def test_no_committed_file_holds_an_absolute_path(path):
    found = paths_in(path.read_text(errors="replace"))
    assert not found, f"{path.relative_to(ROOT)} holds absolute paths (make them repo-relative): {found[:5]}"


@pytest.mark.parametrize("path", committed("results"), ids=lambda p: p.name)
def test_no_committed_result_names_its_host(path):
    assert '"hostname"' not in path.read_text(errors="replace")


def test_a_rewritten_result_does_not_make_the_code_dirty(tmp_path):
    """git_dirty looks at tracked files outside results/: a sweep that rewrites committed results as it goes
    records its code as clean; a changed source file is still dirty."""
    import subprocess

    from smlib.provenance import git_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "results" / "bench").mkdir(parents=True)
    (tmp_path / "results" / "bench" / "a.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert git_commit(tmp_path)[1] is False
    (tmp_path / "results" / "bench" / "a.json").write_text('{"new": 1}')
    assert git_commit(tmp_path)[1] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path)[1] is True


def test_a_copy_without_git_takes_its_commit_from_the_environment_and_leaves_cleanliness_unknown(tmp_path,
                                                                                              monkeypatch):
    from smlib.provenance import git_commit

    monkeypatch.delenv("SMLIB_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path) == (None, None)                 # tmp_path is no checkout
    monkeypatch.setenv("SMLIB_GIT_COMMIT", "f" * 40)
    assert git_commit(tmp_path) == ("f" * 40, None)
    here, _ = git_commit()                                      # inside a checkout git's answer wins
    assert here != "f" * 40
