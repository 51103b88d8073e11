"""A report people would rather look at than read: one self-contained HTML page with charts.

``figures`` reads through the catalog (the published files, as any reader sees them) for the
whole warehouse or one run: documents and articles per day and per source, lines removed by
rule, languages, quarantine reasons and the largest near-duplicate clusters. ``render_html``
draws them as inline SVG (no script, no network, no font to fetch); ``render_markdown`` gives the
same figures as tables for the run's Prefect artifact.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ..layout import WarehouseLayout, atomic_write
from .catalog import open_reader

TOP = 15  # rows per chart
COLORS = ("#3b6ea8", "#e08a2e")


@dataclass
class Figures:
    scope: str  # "warehouse" or "run <id>"
    generated_at: str
    totals: dict[str, int] = field(default_factory=dict)
    per_day: list[tuple[str, int, int]] = field(default_factory=list)  # day, documents, articles
    per_source: list[tuple[str, int, int]] = field(default_factory=list)  # source, documents, articles
    rules: list[tuple[str, int]] = field(default_factory=list)
    languages: list[tuple[str, int]] = field(default_factory=list)
    quarantine: list[tuple[str, int]] = field(default_factory=list)
    clusters: list[tuple[str, int, str]] = field(default_factory=list)  # cluster id, articles, title
    notes: list[str] = field(default_factory=list)


def figures(layout: WarehouseLayout, run_id: str | None = None) -> Figures:
    """The report's figures, for the warehouse or (``run_id``) for what one run loaded."""
    out = Figures("warehouse" if run_id is None else f"run {run_id}", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    # a run's rows are in its own lake files: read those, not the whole lake
    lake = () if run_id else ("lake.documents", "lake.boilerplate", "lake.quarantine")
    reader = open_reader(layout, only={*lake, "marts.articles", "marts.near_duplicates"})
    with reader as con:
        if run_id:
            for table in ("documents", "articles", "boilerplate", "quarantine"):
                reader.register_files(f"run_{table}", f"lake.{table}", layout.run_lake_files(table, run_id))
        # documents: what was read; articles: unique articles (exact copies collapsed) for the
        # warehouse, the articles the run cleaned for a run
        documents, articles, boilerplate, quarantine = (
            ("run_documents", "run_articles", "run_boilerplate", "run_quarantine") if run_id
            else ("lake.documents", "marts.articles", "lake.boilerplate", "lake.quarantine"))

        def rows(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        # one count a statement: four scans of Arrow datasets in one statement held hundreds of
        # MB where each alone holds a few (a first run's million documents)
        out.totals = {label: rows(f"SELECT count(*) FROM {relation}")[0][0] for label, relation in (
            ("documents", documents), ("articles", articles), ("boilerplate lines", boilerplate), ("quarantined", quarantine))}
        out.per_day = [(str(d), n_docs, n_arts) for d, n_docs, n_arts in rows(f"""
            WITH d AS (SELECT ingest_date AS day, count(*) AS n FROM {documents} GROUP BY ALL),
                 a AS (SELECT ingest_date AS day, count(*) AS n FROM {articles} GROUP BY ALL)
            SELECT day, coalesce(d.n, 0), coalesce(a.n, 0) FROM d FULL JOIN a USING (day) ORDER BY day DESC LIMIT 60""")][::-1]
        out.per_source = rows(f"""
            WITH d AS (SELECT source_name AS source, count(*) AS n FROM {documents} GROUP BY ALL),
                 a AS (SELECT source_name AS source, count(*) AS n FROM {articles} GROUP BY ALL)
            SELECT coalesce(source, '(none)'), coalesce(d.n, 0), coalesce(a.n, 0)
            FROM d FULL JOIN a USING (source) ORDER BY 2 DESC, 1 LIMIT {TOP}""")
        out.rules = rows(f"SELECT rule, count(*) FROM {boilerplate} GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT {TOP}")
        out.languages = rows(f"SELECT coalesce(language, '?'), count(*) FROM {articles} GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT {TOP}")
        out.quarantine = rows(f"SELECT reason, count(*) FROM {quarantine} GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT {TOP}")
        out.clusters = _clusters(con, run_id, out.notes)
    return out


def _clusters(con, run_id: str | None, notes: list[str]) -> list[tuple[str, int, str]]:
    """The largest clusters of near-copies (with a run: those holding one of its articles), with
    the title of the cluster's article."""
    try:
        con.execute("DESCRIBE marts.near_duplicates")
    except duckdb.Error:
        notes.append("no near-duplicate mart in this warehouse")
        return []
    members = "SELECT cluster_id, doc_id FROM marts.near_duplicates"
    scope = "WHERE cluster_id IN (SELECT m.cluster_id FROM members m JOIN run_articles USING (doc_id))" if run_id else ""
    sql = f"""WITH members AS ({members}),
                   sizes AS (SELECT cluster_id, count(DISTINCT doc_id) AS n FROM members {scope} GROUP BY ALL)
              SELECT s.cluster_id, s.n, coalesce(a.title, '(no title)')
              FROM sizes s LEFT JOIN marts.articles a ON a.doc_id = s.cluster_id
              WHERE s.n > 1 ORDER BY s.n DESC, s.cluster_id LIMIT 10"""
    return con.execute(sql).fetchall()


# -- drawing


def _bars(rows: list[tuple], title: str, series: tuple[str, ...] = ("",), width: int = 640) -> str:
    """A horizontal bar chart: one row per label, one bar per series, the value written after it."""
    if not rows:
        return f"<h2>{html.escape(title)}</h2><p class=none>none</p>"
    label_w, bar_h, gap = 180, 14, 6
    row_h = bar_h * len(series) + gap
    top = 8 + (18 if len(series) > 1 else 0)
    height = top + row_h * len(rows) + 4
    peak = max(max(r[1:]) for r in rows) or 1
    plot = width - label_w - 70
    parts = []
    if len(series) > 1:
        for i, name in enumerate(series):
            x = label_w + i * 110
            parts.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{COLORS[i]}"/>'
                         f'<text x="{x + 14}" y="11">{html.escape(name)}</text>')
    for j, row in enumerate(rows):
        y = top + j * row_h
        label = str(row[0])
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 3}" text-anchor="end"><title>{html.escape(label)}</title>'
                     f'{html.escape(short)}</text>')
        for i, value in enumerate(row[1:]):
            w = max(1, round(plot * value / peak)) if value else 0
            yy = y + i * bar_h
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{w}" height="{bar_h - 2}" fill="{COLORS[i]}"/>'
                         f'<text x="{label_w + w + 4}" y="{yy + bar_h - 4}">{value:,}</text>')
    return (f"<h2>{html.escape(title)}</h2><svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            f"role=\"img\" aria-label=\"{html.escape(title)}\">{''.join(parts)}</svg>")


def _columns_chart(rows: list[tuple[str, int, int]], title: str, series: tuple[str, str], width: int = 640) -> str:
    """Columns per day, two series side by side."""
    if not rows:
        return f"<h2>{html.escape(title)}</h2><p class=none>none</p>"
    height, bottom, left = 220, 40, 40
    plot_h, plot_w = height - bottom - 24, width - left - 10
    peak = max(max(r[1], r[2]) for r in rows) or 1
    slot = plot_w / len(rows)
    bar = max(1.0, min(18.0, slot / 2 - 1))
    parts = [f'<text x="{left - 4}" y="{24 + 4}" text-anchor="end">{peak:,}</text>',
             f'<line x1="{left}" y1="{24 + plot_h}" x2="{width - 10}" y2="{24 + plot_h}" stroke="#999"/>']
    for i, name in enumerate(series):
        parts.append(f'<rect x="{left + i * 110}" y="2" width="10" height="10" fill="{COLORS[i]}"/>'
                     f'<text x="{left + i * 110 + 14}" y="11">{html.escape(name)}</text>')
    every = max(1, len(rows) // 8)
    for j, (day, a, b) in enumerate(rows):
        x = left + j * slot + slot / 2 - bar
        for i, value in enumerate((a, b)):
            h = plot_h * value / peak
            parts.append(f'<rect x="{x + i * bar:.1f}" y="{24 + plot_h - h:.1f}" width="{bar - 0.5:.1f}" height="{h:.1f}" '
                         f'fill="{COLORS[i]}"><title>{html.escape(day)}: {value:,} {html.escape(series[i])}</title></rect>')
        if j % every == 0:
            parts.append(f'<text x="{x + bar:.1f}" y="{24 + plot_h + 16}" text-anchor="middle">{html.escape(day)}</text>')
    return (f"<h2>{html.escape(title)}</h2><svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            f"role=\"img\" aria-label=\"{html.escape(title)}\">{''.join(parts)}</svg>")


STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:720px;color:#222}
h1{font-size:1.4em}h2{font-size:1.05em;margin:1.6em 0 .4em}svg text{font:11px system-ui,sans-serif;fill:#333}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}
td.n{text-align:right}.none,.meta{color:#777}"""


def render_html(f: Figures, layout: WarehouseLayout) -> str:
    totals = "".join(f"<tr><th>{html.escape(k)}</th><td class=n>{v:,}</td></tr>" for k, v in f.totals.items())
    clusters = ("<table><tr><th>articles</th><th>title of the cluster's article</th></tr>"
                + "".join(f"<tr><td class=n>{n:,}</td><td>{html.escape(t)}</td></tr>" for _c, n, t in f.clusters)
                + "</table>") if f.clusters else "<p class=none>none</p>"
    notes = "".join(f"<p class=meta>{html.escape(n)}</p>" for n in f.notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>news-etl report: {html.escape(f.scope)}</title>
<style>{STYLE}</style></head><body>
<h1>news-etl report: {html.escape(f.scope)}</h1>
<p class=meta>warehouse {html.escape(str(layout.root))}, generated {html.escape(f.generated_at)}</p>
<table>{totals}</table>
{_columns_chart(f.per_day, "Documents and articles per day loaded", ("documents", "articles"))}
{_bars(f.per_source, "Documents and articles per source", ("documents", "articles"))}
{_bars(f.rules, "Lines removed, by rule")}
{_bars(f.languages, "Articles by language")}
{_bars(f.quarantine, "Quarantined inputs, by reason")}
<h2>Largest clusters of near-duplicates</h2>{clusters}
{notes}
</body></html>
"""


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    if not rows:
        return ["none", ""]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v).replace("|", "\\|") for v in r) + " |" for r in rows]
    return out + [""]


def render_markdown(f: Figures, page: Path | None) -> str:
    lines = [f"# news-etl {f.scope}", ""]
    if page:
        lines += [f"Report page: `{page}`", ""]
    lines += _table(("", "count"), list(f.totals.items()))
    for title, header, rows in (
        ("Documents and articles per day loaded", ("day", "documents", "articles"), f.per_day),
        ("Per source", ("source", "documents", "articles"), f.per_source),
        ("Lines removed, by rule", ("rule", "lines"), f.rules),
        ("Articles by language", ("language", "articles"), f.languages),
        ("Quarantined inputs, by reason", ("reason", "inputs"), f.quarantine),
        ("Largest clusters of near-duplicates", ("cluster", "articles", "title"), f.clusters),
    ):
        lines += [f"## {title}", "", *_table(header, rows)]
    return "\n".join(lines)


KEEP_REPORTS = 100  # run pages kept under reports/; older ones are removed


def write_report(layout: WarehouseLayout, run_id: str | None = None) -> tuple[Path, Figures]:
    """Write the report page (``reports/warehouse.html`` or ``reports/run-<id>.html``) and return
    its path and figures."""
    f = figures(layout, run_id)
    target = layout.report_file("warehouse" if run_id is None else f"run-{run_id}")
    with atomic_write(target) as tmp:
        tmp.write_text(render_html(f, layout), encoding="utf-8")
    runs = sorted(layout.reports.glob("run-*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[KEEP_REPORTS:]:
        old.unlink(missing_ok=True)
    return target, f
