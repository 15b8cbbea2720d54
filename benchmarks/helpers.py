"""Small helpers for the benchmarks: statistics and a plain-text table."""
from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float('nan')


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank): a tail that a few outliers cannot hide."""
    if not values:
        return float('nan')
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


def ratio(value: float, base: float) -> float:
    return value / base if base else float('nan')


class Table:
    """Columns padded to their widest cell; printed with a title and a note."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.headers, *self.rows])
                  for i in range(len(self.headers))]
        lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [self.headers, ['-' * w for w in widths], *self.rows]]
        return '\n'.join(lines)

    def print(self, title: str, note: str = '') -> None:
        print(f'\n{title}\n{"=" * min(len(title), 100)}')
        print(self.render())
        if note:
            print(note)
