"""`run.py mot-eval`: MOTA, IDF1, ID switches, FP, FN of MOTChallenge results against ground truth.

    python run.py mot-eval --gt TUD-Campus/gt.txt --res campus.txt [--gt G2 --res R2 ...]
    python run.py mot-eval --gt mot15/ --res results/    # results/SEQ.txt against mot15/SEQ/gt.txt

Ground truth keeps rows whose consider flag (column 7) is 1 and, for MOT16/17/20 files, whose class
(column 8) is pedestrian; MOT15 files have world coordinates there and are not class-filtered.
Boxes match at IoU >= 0.5 (see core.track.metrics). The OVERALL row adds the counts of all sequences.
"""

from pathlib import Path

from core.cli.options import CommandParser, number
from core.errors import UserError
from core.track import (
    MotCounts,
    evaluate_sequence,
    format_table,
    load_ground_truth,
    load_results,
    sequence_file,
)


def sequence_name(gt_path: Path) -> str:
    """TUD-Campus for TUD-Campus/gt.txt and TUD-Campus/gt/gt.txt; the file stem otherwise."""
    parent = gt_path.parent
    if parent.name == "gt":
        parent = parent.parent
    return parent.name if gt_path.stem == "gt" and parent.name else gt_path.stem


def pairs_from_args(gts: list[Path], results: list[Path]) -> list[tuple[str, Path, Path]]:
    if len(gts) != len(results):
        raise UserError(f"give --gt and --res in pairs (got {len(gts)} --gt and {len(results)} --res)")
    pairs = []
    for gt, res in zip(gts, results, strict=True):
        if gt.is_dir() != res.is_dir():
            raise UserError(f"--gt {gt} and --res {res}: give two files or two folders")
        if gt.is_dir():
            files = sorted(res.glob("*.txt"))
            if not files:
                raise UserError(f"no results (*.txt) in {res}")
            for result in files:
                gt_file = sequence_file(gt / result.stem, "gt")
                if gt_file is None:
                    raise UserError(
                        f"no ground truth for {result.name}: expected {gt / result.stem}/gt.txt "
                        f"or {gt / result.stem}/gt/gt.txt"
                    )
                pairs.append((result.stem, gt_file, result))
        else:
            for path in (gt, res):
                if not path.is_file():
                    raise UserError(f"file not found: {path}")
            pairs.append((sequence_name(gt), gt, res))
    return pairs


def main(argv: list[str], command: str = "mot-eval") -> int:
    parser = CommandParser(prog=f"run.py {command}", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--gt", type=Path, action="append", required=True, help="gt.txt or a folder of sequences"
    )
    parser.add_argument("--res", type=Path, action="append", required=True, help="results file or folder")
    parser.add_argument(
        "--iou",
        type=number("--iou", 0.0, 1.0, above=True),
        default=0.5,
        help="minimum IoU of a match (default 0.5)",
    )
    args = parser.parse_args(argv)
    rows: list[tuple[str, MotCounts]] = []
    for name, gt, res in pairs_from_args(args.gt, args.res):
        truth = load_ground_truth(gt)
        if len(truth) == 0:  # MOTA and recall would be 0/0
            raise UserError(f"{gt}: no ground-truth boxes to evaluate (empty, or no row has consider flag 1)")
        rows.append((name, evaluate_sequence(truth, load_results(res), args.iou)))
    if len(rows) > 1:
        total = MotCounts()
        for _, counts in rows:
            total = total + counts
        rows.append(("OVERALL", total))
    print(format_table(rows))
    return 0
