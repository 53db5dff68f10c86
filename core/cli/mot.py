"""`run.py mot`: the tracker alone on MOTChallenge detections, MOTChallenge results out.

    python run.py mot --det TUD-Campus/det.txt --out tracks.txt [--max-age 3s ...]
    python run.py mot --det mot15/ --out results/      # every sequence folder holding det.txt

Every TrackerConfig field is an option (`--max-age`, `--no-smoothing`, ...); defaults are the config's.
Frame N is stamped (N - 1) / rate seconds, the rate from the sequence's seqinfo.ini, else `--fps`.
The results come from the offline pass (core.track.offline: tracks linked across occlusions, gaps
filled, boxes smoothed both ways), as `run.py track` writes files; `--online` writes what the tracker
reports frame by frame instead.
"""

import dataclasses
from pathlib import Path

from tqdm import tqdm

from core.atomic import check_not_input, check_writable, check_writable_folder
from core.cli.options import CommandParser, add_tracker_arguments, number, tracker_config_from_args
from core.errors import UserError
from core.track import (
    Tracker,
    TrackerConfig,
    detections_by_frame,
    load_detections,
    sequence_file,
    sequence_frame_rate,
    write_results,
)
from core.track.offline import Journal, offline_tracks


def track_file(
    det_path: Path,
    out_path: Path,
    config: TrackerConfig,
    min_score: float = float("-inf"),
    progress: bool = True,
    offline: bool = True,
) -> int:
    """Track one det.txt into a results file (through the offline pass unless `offline` is False);
    returns the number of result rows."""
    table = load_detections(det_path, min_score)
    config = with_sequence_rate(config, sequence_folder(det_path))
    journal = Journal() if offline else None
    tracker = Tracker(config, journal)
    fps = config.fps
    results = []
    frames = detections_by_frame(table)
    for frame_number, detections in tqdm(
        frames,
        total=table.num_frames,
        desc=det_path.parent.name or "mot",
        unit="frame",
        disable=not progress,
        leave=False,
    ):
        results.append((frame_number, tracker.update(detections, timestamp=(frame_number - 1) / fps)))
    if offline:
        numbers = [number for number, _ in results]
        results = [(numbers[index], tracks) for index, tracks in offline_tracks(journal, config).by_frame()]
    write_results(out_path, results)
    return sum(len(tracks) for _, tracks in results)


def with_sequence_rate(config: TrackerConfig, sequence: Path) -> TrackerConfig:
    """`config` at the frame rate of the sequence's seqinfo.ini, held to the same range as --fps."""
    rate = sequence_frame_rate(sequence)
    if rate is None:
        return config
    try:
        return dataclasses.replace(config, fps=rate)
    except UserError as error:
        raise UserError(f"{sequence / 'seqinfo.ini'}: frameRate {rate:g}: {error}") from None


def sequence_folder(det_path: Path) -> Path:
    """The sequence a det.txt belongs to: SEQ for SEQ/det.txt and SEQ/det/det.txt."""
    return det_path.parent.parent if det_path.parent.name == "det" else det_path.parent


def sequence_inputs(sequence: Path) -> list[Path]:
    """The files of a sequence that results must never replace: its detections, ground truth and
    seqinfo.ini (`--out gt.txt` beside the det.txt would destroy the ground truth)."""
    files = [sequence_file(sequence, kind) for kind in ("det", "gt")] + [sequence / "seqinfo.ini"]
    return [path for path in files if path is not None and path.exists()]


def check_outside_sequences(out: Path, sequences: list[Path]) -> None:
    """Results go beside the sequences, not into one: a results folder is read back whole
    (`mot-eval --res FOLDER` takes every *.txt), and a sequence's det.txt and gt.txt are not results."""
    target = out.resolve()
    for sequence in sequences:
        folder = sequence.resolve()
        if target == folder or folder in target.parents:
            raise UserError(
                f"--out {out} lies inside the sequence folder {sequence}: choose an output folder "
                "apart from the inputs"
            )


def main(argv: list[str], command: str = "mot") -> int:
    parser = CommandParser(prog=f"run.py {command}", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--det",
        type=Path,
        required=True,
        help="det.txt, or a folder of sequence folders each holding det.txt or det/det.txt",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="results file; a folder (created) when --det is a folder: one SEQ.txt per sequence",
    )
    parser.add_argument(
        "--min-score",
        type=number("--min-score"),
        default=float("-inf"),
        help="drop detections below this score",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    tracking = add_tracker_arguments(parser)
    tracking.add_argument(
        "--online", action="store_true", help="what the tracker reports frame by frame, no offline pass"
    )
    args = parser.parse_args(argv)
    config = tracker_config_from_args(args)

    if args.det.is_dir():
        sequences = sorted(p for p in args.det.iterdir() if p.is_dir() and sequence_file(p, "det"))
        if not sequences:
            raise UserError(f"no sequence folder with det.txt or det/det.txt under {args.det}")
        if args.out.exists() and not args.out.is_dir():
            raise UserError(f"--out must be a folder when --det is a folder: {args.out}")
        check_outside_sequences(args.out, sequences)
        check_writable_folder(args.out)
        inputs = [path for sequence in sequences for path in sequence_inputs(sequence)]
        for sequence in sequences:
            check_not_input(args.out / f"{sequence.name}.txt", inputs)
        args.out.mkdir(parents=True, exist_ok=True)
        for sequence in sequences:
            rows = track_file(
                sequence_file(sequence, "det"),
                args.out / f"{sequence.name}.txt",
                config,
                args.min_score,
                not args.quiet,
                not args.online,
            )
            print(f"{sequence.name}: {rows} boxes -> {args.out / (sequence.name + '.txt')}")
        return 0
    if not args.det.is_file():
        raise UserError(f"detections not found: {args.det}")
    if args.out.is_dir():
        raise UserError(f"--out is a folder; give a file name: {args.out}")
    inputs = [args.det, *sequence_inputs(sequence_folder(args.det))]
    check_not_input(args.out, inputs)
    if args.out.parent.is_dir():
        check_writable(args.out)
    rows = track_file(args.det, args.out, config, args.min_score, not args.quiet, not args.online)
    print(f"{rows} boxes -> {args.out}")
    return 0
