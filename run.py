#!/usr/bin/env python3
"""The one entry point: `python run.py` opens the desktop app; subcommands do the rest.

Each subcommand lives in its own module with `main(argv) -> int`; modules are imported only when
their command runs, so `--help` answers at once and one command's dependencies never slow another.
"""

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("app.main", "the desktop app (default when no command is given)"),
    "track": ("core.cli.track", "headless pose tracking of files, folders, cameras or streams"),
    "report": ("core.cli.report", "report.html of a track output folder: plots per video and per run"),
    "bench": ("core.bench.command", "FPS, latency, parameters and FLOPs per attention preset and backend"),
    "mot": ("core.cli.mot", "the tracker alone on MOTChallenge detections"),
    "mot-eval": ("core.cli.mot_eval", "MOTA, IDF1, ID switches of MOTChallenge results"),
    "train": ("trainer.commands", "train or fine-tune on COCO keypoints (torchrun for DDP)"),
    "eval": ("trainer.commands", "COCO keypoint AP of a checkpoint with pycocotools"),
    "table1": ("trainer.table", "fine-tune every Table I preset and tabulate AP beside the paper's"),
    "export": ("core.cli.export", "export a model to ONNX or a TensorRT engine"),
    "convert": ("core.cli.convert", "import an official HRNet or mmpose checkpoint"),
    "info": ("core.cli.info", "attention positions, parameters and FLOPs of a preset or checkpoint"),
    "weights": (
        "core.cli.weights",
        "pose models and detectors by name: list, get, verify, path, import, remove",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python run.py [COMMAND] [OPTIONS]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`python run.py COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from core.cli.entry import closed_output, run_command

    if argv and argv[0] in ("-h", "--help", "help"):
        try:
            print(usage(), flush=True)
        except BrokenPipeError:
            return closed_output()
        return 0
    name, rest = (argv[0], argv[1:]) if argv else ("gui", [])
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2

    def command(argv: list[str]) -> int | None:
        return importlib.import_module(COMMANDS[name][0]).main(argv, command=name)

    return run_command(command, rest, handle_signals=name != "gui")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
