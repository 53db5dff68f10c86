"""`run.py mot` and `run.py mot-eval` end to end on MOT15 TUD-Campus."""

import shutil

import numpy as np

import run
from core.track.motchallenge import load_results, read_table


def test_mot_then_mot_eval_on_tud_campus(shared_data, tmp_path, capsys):
    det = shared_data / "mot15" / "TUD-Campus" / "det.txt"
    out = tmp_path / "campus.txt"
    assert run.main(["mot", "--det", str(det), "--out", str(out), "--quiet"]) == 0
    table = read_table(out)
    assert table.shape[1] == 10 and (table[:, 7:] == -1).all()
    results = load_results(out)
    assert results.frames.min() >= 1 and results.frames.max() <= 71
    assert (results.ids >= 1).all() and (results.boxes[:, 2:] > results.boxes[:, :2]).all()
    for frame in np.unique(results.frames):
        ids = results.ids[results.frames == frame]
        assert len(ids) == len(set(ids))  # one box per id and frame
    capsys.readouterr()

    gt = shared_data / "mot15" / "TUD-Campus" / "gt.txt"
    assert run.main(["mot-eval", "--gt", str(gt), "--res", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["sequence", "MOTA", "IDF1"]
    row = lines[2].split()
    assert row[0] == "TUD-Campus" and 50.0 < float(row[1]) <= 100.0 and 50.0 < float(row[2]) <= 100.0


def test_mot_writes_the_offline_pass_and_with_online_what_the_tracker_reports(shared_data, tmp_path):
    from core.bench.peers import ours
    from core.bench.sequences import load_sequences, score
    from core.track import evaluate_sequence

    (campus,) = load_sequences(shared_data / "mot15", ["TUD-Campus"])
    for offline in (True, False):
        out = tmp_path / f"{offline}.txt"
        argv = ["mot", "--det", str(shared_data / "mot15" / "TUD-Campus" / "det.txt"), "--out", str(out)]
        assert run.main([*argv, "--quiet", *([] if offline else ["--online"])]) == 0
        written = evaluate_sequence(campus.gt, load_results(out))
        expected = score(ours(offline=offline), campus)
        assert (written.idtp, written.tp, written.idsw) == (expected.idtp, expected.tp, expected.idsw)


def test_folders_give_one_row_per_sequence_and_overall(shared_data, tmp_path, capsys):
    data = tmp_path / "mot15"
    for name in ("TUD-Campus", "TUD-Stadtmitte"):  # MOTChallenge layout: SEQ/det/det.txt, SEQ/gt/gt.txt
        for kind in ("det", "gt"):
            (data / name / kind).mkdir(parents=True)
            shutil.copy(shared_data / "mot15" / name / f"{kind}.txt", data / name / kind / f"{kind}.txt")
    assert (
        run.main(["mot", "--det", str(data), "--out", str(tmp_path / "res"), "--quiet", "--max-age", "1.5s"])
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["TUD-Campus.txt", "TUD-Stadtmitte.txt"]
    capsys.readouterr()
    assert run.main(["mot-eval", "--gt", str(data), "--res", str(tmp_path / "res")]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert names == ["TUD-Campus", "TUD-Stadtmitte", "OVERALL"]


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert run.main(["mot", "--det", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o.txt")]) == 2
    bad = tmp_path / "det.txt"
    bad.write_text("1,-1,10,10,-5,20,0.9\n")
    assert run.main(["mot", "--det", str(bad), "--out", str(tmp_path / "o.txt")]) == 2
    assert run.main(["mot-eval", "--gt", str(bad), "--res", str(bad), "--gt", str(bad)]) == 2
    assert run.main(["mot", "--det", str(bad), "--out", str(tmp_path / "o.txt"), "--output-box", "x"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    assert not (tmp_path / "o.txt").exists()


def one_error(code: int, capsys, *words: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]


def test_malformed_mot_inputs_and_empty_ground_truth_are_one_line(shared_data, tmp_path, capsys):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    huge = tmp_path / "huge.txt"
    huge.write_text("1,-1,10,10,20,40,0.9\n1e20,-1,10,10,20,40,0.9\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    gt = shared_data / "mot15" / "TUD-Campus" / "gt.txt"
    out = tmp_path / "res.txt"
    one_error(
        run.main(["mot", "--det", str(binary), "--out", str(out), "--quiet"]), capsys, "not a MOTChallenge"
    )
    one_error(
        run.main(["mot", "--det", str(huge), "--out", str(out), "--quiet"]), capsys, "row 2", "frame number"
    )
    one_error(run.main(["mot-eval", "--gt", str(gt), "--res", str(binary)]), capsys, "not a MOTChallenge")
    one_error(run.main(["mot-eval", "--gt", str(empty), "--res", str(gt)]), capsys, "no ground-truth boxes")
    one_error(
        run.main(["mot-eval", "--gt", str(gt), "--res", str(gt), "--iou", "nan"]), capsys, "--iou", "finite"
    )
    one_error(
        run.main(["mot", "--det", str(huge), "--out", str(out), "--min-iou", "nan"]), capsys, "--min-iou"
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    det = shared_data / "mot15" / "TUD-Campus" / "det.txt"
    one_error(run.main(["mot", "--det", str(det), "--out", str(blocker / "x.txt")]), capsys)
    assert not out.exists()
