"""Server-side SVG charts of dashboard tables (matplotlib, Agg backend).

Why server-side: the pages stay script-free apart from a small refresh module (a strict
CSP holds), there is no front-end build or vendored bundle to keep patched, and a chart is
drawn from exactly the table the page, the API and the CSV show.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from workstation.dashboards.metrics.tables import Table

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PALETTE = ("#2f6db5", "#e07b39", "#7a4fb5", "#3a9b5c")


def _figure(title: str) -> tuple[Figure, Axes]:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: readable, searchable
    matplotlib.rcParams["svg.hashsalt"] = "radws"  # stable ids: the same data, the same SVG
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=100)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def _svg(fig: Figure) -> bytes:
    from matplotlib import pyplot as plt

    out = io.BytesIO()
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def _empty(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=ax.transAxes)


def _lines(table: Table, columns: tuple[str, ...], title: str, *, scale: float, unit: str) -> bytes:
    fig, ax = _figure(title)
    rows = table.as_dicts()
    keys = [str(r[table.columns[0]]) for r in rows]
    if not rows:
        _empty(ax)
    for colour, column in zip(PALETTE, columns, strict=False):
        values = [r[column] / scale if r[column] is not None else float("nan") for r in rows]
        ax.plot(keys, values, marker="o", color=colour, label=column.replace("_", " "))
    ax.set_ylabel(unit, fontsize=8)
    if rows:
        ax.legend(fontsize=7, frameon=False)
        ax.tick_params(axis="x", labelrotation=45 if len(keys) > 6 else 0)
    return _svg(fig)


def turnaround_chart(table: Table) -> bytes:
    return _lines(
        table,
        ("received_to_signed_p50_s", "received_to_signed_p95_s", "received_to_draft_p95_s"),
        "Turnaround (hours)",
        scale=3600.0,
        unit="hours",
    )


def latency_chart(table: Table) -> bytes:
    return _lines(
        table, ("p50_ms", "p95_ms", "p99_ms"), "AI latency (seconds)", scale=1000.0, unit="s"
    )


def edit_distance_chart(table: Table) -> bytes:
    fig, ax = _figure("Normalised edit distance, signed reports")
    rows = table.as_dicts()
    ax.bar(
        [r["lower"] for r in rows],
        [r["reports"] for r in rows],
        width=0.09,
        align="edge",
        color=PALETTE[0],
    )
    ax.set_xlim(0, 1)
    ax.set_ylabel("reports", fontsize=8)
    return _svg(fig)


def detection_chart(table: Table) -> bytes:
    fig, ax = _figure("Detection rate vs 30-day baseline")
    rows = [r for r in table.as_dicts() if r["rate"] or r["baseline_rate"]]
    if not rows:
        _empty(ax)
    positions = range(len(rows))
    ax.barh(
        [p + 0.2 for p in positions],
        [r["rate"] or 0 for r in rows],
        0.4,
        color=PALETTE[0],
        label="range",
    )
    ax.barh(
        [p - 0.2 for p in positions],
        [r["baseline_rate"] or 0 for r in rows],
        0.4,
        color=PALETTE[1],
        label="baseline",
    )
    ax.set_yticks(list(positions), [r["finding"] for r in rows], fontsize=7)
    if rows:
        ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


# chart name -> (dashboard, table it draws, drawing function)
CHARTS: dict[str, tuple[str, str, Callable[[Table], bytes]]] = {
    "turnaround": ("manager", "turnaround", turnaround_chart),
    "edit-distance": ("manager", "edit_distance_histogram", edit_distance_chart),
    "latency": ("model", "latency", latency_chart),
    "detection": ("model", "detection_rates", detection_chart),
}
