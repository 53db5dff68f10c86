#!/usr/bin/env python3
"""The one entry point: `python run.py` opens the desktop app; subcommands do the rest.

Each subcommand lives in its own module with `main(argv) -> int`; modules are imported only when
their command runs, so `--help` answers at once and one command's dependencies never slow another.
"""

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("app.main", "the desktop app (default when no command is given)"),
    "track": ("core.commands.track", "headless pose tracking of files, folders, cameras or streams"),
    "bench": ("core.commands.bench", "FPS, latency, parameters and FLOPs per attention preset and backend"),
    "mot": ("core.commands.mot", "the tracker alone on MOTChallenge detections"),
    "mot-eval": ("core.commands.mot_eval", "MOTA, IDF1, ID switches of MOTChallenge results"),
    "train": ("trainer.commands", "train or fine-tune on COCO keypoints (torchrun for DDP)"),
    "eval": ("trainer.commands", "COCO keypoint AP of a checkpoint with pycocotools"),
    "export": ("core.commands.export", "export a model to ONNX or a TensorRT engine"),
    "convert": ("core.commands.convert", "import an official HRNet or mmpose checkpoint"),
    "info": ("core.commands.info", "attention positions, parameters and FLOPs of a preset or checkpoint"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python run.py [COMMAND] [OPTIONS]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`python run.py COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = (argv[0], argv[1:]) if argv else ("gui", [])
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    from core.errors import UserError

    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest, command=name) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
