"""How the report writes a cell and a difference with its noise; one spelling for tables, Findings and terminal."""

WITHIN_NOISE = "~"

UNCERTAINTY_RULE = (
    "Cells: mean ± sample std over the runs that have a result, n of them (`missing s3`: finetuning seed 3 has "
    "no result; `p2-s3` names the pretraining seed too; a run without a result is never averaged over; the Problems "
    "section says why a failed, blocked or finished run has none, the others are still to run). "
    "Δ: the difference to the baseline with its 95 % interval. Where the source and the baseline share "
    "finetuning seeds it is the mean over those seeds of the per-seed difference (a source's pretraining seeds "
    "averaged per finetuning seed first; a seed either side lacks is left out), with the Student t interval "
    "mean ± t(0.975, n-1) · sd / √n; where they share no seed, the difference of the means with Welch's "
    "interval (marked `Welch`). `[n=1]`: one value, no interval. "
    f"`{WITHIN_NOISE}`: the interval contains 0, the difference is within noise."
)


def format_spread(cell):
    return f"{cell.mean:.4f}" if cell.std is None else f"{cell.mean:.4f} ± {cell.std:.4f}"


def format_count(cell):
    return f"n={cell.n}" + (f", missing {cell.missing_text()}" if cell.missing else "")


def format_interval(difference):
    """'[-0.0200, +0.0300]' (with ' Welch' when unpaired), or '[n=1]' without an interval."""
    if difference.low is None:
        return f"[n={difference.n}]"
    text = f"[{difference.low:+.4f}, {difference.high:+.4f}]"
    return text + " Welch" if difference.method == "Welch" else text


def noise_mark(difference):
    return WITHIN_NOISE if difference.within_noise else ""


def format_difference(difference):
    """'+0.0050 [-0.0200, +0.0300] ~'; 'no result' while a cell it needs has none."""
    if difference is None:
        return "no result"
    return " ".join(filter(None, (f"{difference.estimate:+.4f}", format_interval(difference),
                                  noise_mark(difference))))


def format_cell(cell, difference):
    """'0.6549 ± 0.0112 (n=3) Δ +0.0050 [-0.0200, +0.0300] ~'; '—' without a result."""
    if cell is None:
        return "—"
    text = f"{format_spread(cell)} ({format_count(cell)})"
    return text if difference is None else f"{text} Δ {format_difference(difference)}"
