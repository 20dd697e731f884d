"""Issue 11 item 1: a re-run keeps a file only when its bytes match the folder's record.

Before: a byte-flipped or 0-byte rendered file was reported "already present", its new hash
written into index.sha256, and `verify` passed. Also: a SIGKILL during `generate` followed by
a resume gives exactly the files of an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from _faults_helpers import ROBUSTPOSE, run_cli

from robustpose_bench.datasets import load_coco
from robustpose_bench.render.benchmark import attack_benchmark, generate_benchmark
from robustpose_bench.render.conditions import Condition
from robustpose_bench.render.manifest import JOURNAL, read_index, read_manifest, verify
from robustpose_bench.render.protocol import get_protocol
from robustpose_bench.render.resume import Journal, plan_resume, settings_of


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.suffix in (".jpg", ".png")}


def test_flipped_and_empty_files_are_rendered_again(small_set, tmp_path):
    ann, images = small_set
    out = tmp_path / "out"
    args = ["generate", "--ann", ann, "--images", images, "--out", out, "--corruptions",
            "fog,contrast", "--severities", "1,3", "--no-progress"]
    assert run_cli(*args).returncode == 0
    clean_index = read_index(out)
    flipped, emptied = out / "fog/1/img_000.jpg", out / "contrast/3/sub/img_001.jpg"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    emptied.write_bytes(b"")
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "re-rendered 2 damaged files" in res.stderr and "14 already present" in res.stderr
    assert read_index(out) == clean_index  # the record was not overwritten with bad hashes
    assert verify(out).ok
    # the same holds for the library call and for a file changed behind the index's back
    ds = load_coco(ann, images)
    flipped.write_bytes(flipped.read_bytes()[:-5] + b"xxxxx")
    _, report = generate_benchmark(ds, out, ["fog", "contrast"], [1, 3],
                                   get_protocol("robustpose"), progress=False)
    assert (report.rendered, report.repaired, report.skipped) == (1, 1, 15)
    assert read_index(out) == clean_index


def test_unrecorded_file_is_rendered_again_and_counted(small_set, tmp_path):
    """A file present without any record (e.g. written by a killed worker after the last
    journal line) is not trusted."""
    ann, images = small_set
    ds = load_coco(ann, images)
    proto = get_protocol("robustpose").with_overrides(format="png")
    out = tmp_path / "out"
    (out / "brightness/2").mkdir(parents=True)
    (out / "brightness/2/img_000.png").write_bytes(b"looks finished but is not")
    _, report = generate_benchmark(ds, out, ["brightness"], [2], proto, progress=False)
    assert (report.rendered, report.unrecorded, report.repaired) == (4, 1, 0)
    assert "re-rendered 1 unrecorded file" in report.summary()
    assert verify(out).ok


def test_damaged_attack_file_is_rendered_again(small_set, tmp_path):
    ann, images = small_set
    ds = load_coco(ann, images)
    out = tmp_path / "att"
    conds = [Condition.attack("blackout", "nose")]
    attack_benchmark(ds, out, conds, progress=False)
    before = _files(out)
    target = out / "blackout/nose/img_000.png"
    target.write_bytes(b"")
    _, report = attack_benchmark(ds, out, conds, progress=False)
    assert (report.repaired, report.skipped) == (1, 3)
    assert _files(out) == before and verify(out).ok


def test_sigkill_during_generate_then_resume_equals_uninterrupted_run(make_set, tmp_path):
    ann, images = make_set(tmp_path / "data", n=6, size=(160, 220))
    args = ["--ann", ann, "--images", images, "--corruptions", "glass_blur,zoom_blur",
            "--no-progress", "--jobs", "2"]
    ref = tmp_path / "ref"  # the uninterrupted run (in this process: same files, see below)
    generate_benchmark(load_coco(ann, images), ref, ["glass_blur", "zoom_blur"], [1, 2, 3, 4, 5],
                       get_protocol("robustpose"), progress=False)
    out = tmp_path / "out"
    proc = subprocess.Popen([*ROBUSTPOSE, "generate", *map(str, args), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    journal = out / JOURNAL
    # kill once the journal records some finished images, well before the end
    while time.time() < deadline and proc.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") > 1 + 10:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists() and journal.is_file()
    kept_before = len(_files(out))
    assert 0 < kept_before < 60
    res = run_cli("verify", out)
    assert res.returncode == 2 and "interrupted run" in res.stderr
    res = run_cli("generate", *args, "--out", out)
    assert res.returncode == 0, res.stderr
    assert "already present" in res.stderr and " 0 already present" not in res.stderr
    assert read_index(out) == read_index(ref)
    assert _files(out) == _files(ref)
    assert read_manifest(out)["benchmark_sha256"] == read_manifest(ref)["benchmark_sha256"]
    assert not journal.exists() and run_cli("verify", out).returncode == 0


def test_torn_journal_line_is_ignored(small_set, tmp_path):
    """A kill can tear the journal's last line: that entry is not trusted, the rest is."""
    ann, images = small_set
    ds = load_coco(ann, images)
    proto = get_protocol("robustpose")
    out = tmp_path / "out"
    generate_benchmark(ds, out, ["pixelate"], [2], proto, progress=False)
    index = read_index(out)
    # turn the finished folder into an interrupted one: no manifest, a journal whose last
    # line is torn
    manifest = json.loads((out / "manifest.json").read_text())
    plan = plan_resume(out, settings_of(manifest), [Condition.corruption("pixelate", 2)])
    plan.recorded = dict(sorted(index.items())[:3])
    with Journal(plan):
        pass
    last_rel, last_hash = sorted(index.items())[3]
    with open(out / JOURNAL, "a") as fh:
        fh.write(f"{last_hash}  {last_rel[:-3]}")  # torn mid-path, no newline
    (out / "manifest.json").unlink()
    (out / "index.sha256").unlink()
    _, report = generate_benchmark(ds, out, ["pixelate"], [2], proto, progress=False)
    assert (report.skipped, report.unrecorded) == (3, 1)
    assert read_index(out) == index and verify(out).ok
