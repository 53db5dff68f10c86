"""Numbers the paper reports (Tables I and II, COCO val2017, 256×192) — quoted, never measured here.

Our own parameter counts are measured (core.model.complexity) and differ: the attention module as the
paper describes it adds about 15k parameters for all nine positions at W32, not 7.9M. Keep the two
apart in any output and label these as the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.model.attention import PRESETS, Position, normalize_positions


@dataclass(frozen=True)
class PaperRow:
    params_millions: float
    ap: float
    source: str  # which table of the paper

    def describe(self) -> str:
        return f"#Params {self.params_millions:.1f}M, AP {self.ap:.1f} (paper's {self.source}, COCO val2017)"


# (preset, width) -> row. Table I is W32 only; Table II adds W48 for the baseline and the paper's net.
PAPER_ROWS: dict[tuple[str, int], PaperRow] = {
    ("baseline", 32): PaperRow(28.5, 74.4, "Table I"),
    ("sub1", 32): PaperRow(31.1, 75.4, "Table I"),
    ("sub12", 32): PaperRow(33.8, 75.9, "Table I"),
    ("sub123", 32): PaperRow(35.5, 76.3, "Table I"),
    ("sub1234", 32): PaperRow(36.4, 76.4, "Table I"),
    ("stage1", 32): PaperRow(30.2, 75.5, "Table I"),
    ("stage12", 32): PaperRow(32.9, 76.0, "Table I"),
    ("stage123", 32): PaperRow(36.4, 76.4, "Table I"),
    ("paper", 32): PaperRow(31.9, 75.7, "Table I"),
    ("baseline", 48): PaperRow(63.6, 75.1, "Table II"),
    ("paper", 48): PaperRow(67.4, 76.0, "Table II"),
}


def paper_row(positions: tuple[Position, ...], width: int) -> PaperRow | None:
    """The paper's row for a model with these attention positions at this width, if it has one.

    Matched by positions, not by name, so an explicit list equal to a preset finds its row.
    """
    positions = normalize_positions(positions)
    for (name, row_width), row in PAPER_ROWS.items():
        if row_width == width and PRESETS[name] == positions:
            return row
    return None
