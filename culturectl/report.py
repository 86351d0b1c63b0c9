"""Rich tables for evaluation records."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from rich.table import Table

from .evaluation import Record


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _cell(value: float, low: float, high: float) -> str:
    # Whole-percent bounds keep six columns inside 80 characters.
    return f"{_percent(value)}\n[dim]{100 * low:.0f}–{100 * high:.0f}[/dim]"


def model_tables(records: Sequence[Record]) -> list[Table]:
    """Build one table per model: a row per task, greedy accuracy per structure with its 95%
    Wilson interval, then expected-sampled accuracy, sampled accuracy when decoded, and
    answer-cell perplexity, each averaged over structures."""
    by_model: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        by_model[record.model].append(record)
    tables = []
    for model_id, model_records in by_model.items():
        structures = list(dict.fromkeys(r.structure for r in model_records))
        decoded = any(r.sampled is not None for r in model_records)
        n = model_records[0].n
        table = Table(
            title=f"gpt_{model_id:03d} ({model_records[0].source}): full-grid accuracy %, {n} quizzes per cell",
            caption="Columns f_B … A: greedy accuracy when predicting that slot, with its 95% Wilson interval. "
            "expected: mean probability of sampling the whole grid at temperature 1. "
            "ppl: perplexity over answer cells.",
            title_justify="left",
            caption_justify="left",
        )
        table.add_column("task", no_wrap=True)
        for structure in structures:
            table.add_column(structure, justify="right")
        table.add_column("expected", justify="right")
        if decoded:
            table.add_column("sampled", justify="right")
        table.add_column("ppl", justify="right")

        by_task: dict[str, dict[str, Record]] = defaultdict(dict)
        for record in model_records:
            by_task[record.task][record.structure] = record
        for task, cells in by_task.items():
            row = [task]
            row += [_cell(c.greedy, c.greedy_lo, c.greedy_hi) if (c := cells.get(s)) else "" for s in structures]
            values = list(cells.values())
            row.append(_percent(sum(r.expected_sampled for r in values) / len(values)))
            if decoded:
                row.append(_percent(sum(r.sampled or 0.0 for r in values) / len(values)))
            row.append(f"{sum(r.perplexity for r in values) / len(values):.4f}")
            table.add_row(*row)
        tables.append(table)
    return tables
