"""docs/experiments.md, written from the registered claims (so the page cannot drift from the code):

    python -m engine.lab.experiments.docs > docs/experiments.md

tests/test_experiment_claims.py checks the committed file against this output.
"""

from __future__ import annotations

from engine.lab.experiments.base import Experiment, experiment_names, get_experiment
from engine.lab.experiments.claims import T95, fmt

HEADER = """# Experiments from the literature: claims, thresholds, sources

Generated from the recipes (`python -m engine.lab.experiments.docs > docs/experiments.md`); every claim below is
registered in code before any run and is never tuned on this project's results.

**Verdicts.** Each claim's statistic is computed per seed (the runs of one seed share the init seed and the batch
order, so differences are paired). With n seeds, the margin is the one-sided 95% Student-t bound
t(0.95, n-1) x sd / sqrt(n) (t = {t2} for 2 seeds, {t3} for 3). A claim *held* when mean +- margin lies wholly on
its side of the threshold, *did not hold* when wholly on the other side, and is *inconclusive* otherwise, with a
single seed, or when a check it rests on (e.g. "the net trains") did not hold. Checks are preconditions, not
findings of the paper.

`--paper` runs the publication's settings (hours: for a GPU, with a local CIFAR-10 where the paper used it:
`--set data_path=...`). A run already trained with the same spec, config, seed and code version is reused.
"""


def _side(direction: str) -> str:
    return ">" if direction == "above" else "<"


def experiment_section(exp: Experiment) -> str:
    lines = [f"## {exp.name}: {exp.title}", "", exp.claim, "", f"**Setup.** {exp.setup}", "",
             f"**--paper:** `{exp.paper}`", "",
             "| | claim | source | the paper measured | statistic (per seed) | held when | why this threshold |",
             "|---|---|---|---|---|---|---|"]
    for c in exp.claims:
        cells = ["check" if c.check else "claim", c.text, c.source, c.paper_measured, c.statistic,
                 f"{_side(c.direction)} {fmt(c.threshold, c.unit)}", c.why]
        lines.append("| " + " | ".join(x.replace("|", "/") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def document() -> str:
    parts = [HEADER.format(t2=T95[1], t3=T95[2])]
    parts.extend(experiment_section(get_experiment(n)) for n in experiment_names())
    return "\n".join(parts)


if __name__ == "__main__":
    import engine.lab.experiments  # noqa: F401 - registers the recipes

    print(document(), end="")
