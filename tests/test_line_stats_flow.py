"""Lines that recur in many documents of one source are boilerplate, also across runs."""

from __future__ import annotations

import subprocess
import sys

import duckdb

from .conftest import SEEDS, run_etl

FOOTER = "Redaktion Nordkurier Wochenausgabe"


def _article(i: int) -> str:
    text = sorted(SEEDS.glob("*.txt"))[i % 5].read_text(encoding="utf-8")
    head, rest = text.split("\n", 1)
    return f"{head}\n\nDie Behörden meldeten am Abend {i} weitere Fälle.\n\n{FOOTER}\n\n{rest}"


def test_repeated_lines_are_removed_and_their_counts_persist(prefect_harness, tmp_path):
    site = tmp_path / "in" / "nordkurier"
    site.mkdir(parents=True)
    for i in range(5):
        (site / f"{i}.txt").write_text(_article(i), encoding="utf-8")
    warehouse = tmp_path / "wh"
    run_etl([tmp_path / "in"], warehouse, workers=1)

    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM lake.boilerplate WHERE rule = 'repeated_line' AND text = ?", [FOOTER]).fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM lake.articles WHERE contains(body, ?)", [FOOTER]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM lake.articles WHERE contains(body, 'weitere Fälle')").fetchone()[0] == 5
    con.close()

    # `explain --warehouse` reads the warehouse's counts (read-only) and shows what the run did
    def explain(*extra):
        res = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "explain", str(site / "0.txt"), *extra],
                             capture_output=True, text=True, check=True)
        return next(line for line in res.stdout.splitlines() if line.endswith(f"| {FOOTER}"))
    assert "DROP repeated_line" in explain("--warehouse", str(warehouse))
    assert " keep " in explain()

    # A later run sees the footer in one new document only: the persisted counts still flag it.
    (site / "5.txt").write_text(_article(5), encoding="utf-8")
    run_etl([tmp_path / "in"], warehouse, workers=1)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM lake.boilerplate WHERE rule = 'repeated_line' AND text = ?", [FOOTER]).fetchone()[0] == 6
    assert con.execute("SELECT max(n_docs) FROM meta.line_counts").fetchone()[0] == 6
    con.close()

    # Below the threshold nothing is removed for repeating: a second source with the line twice.
    other = tmp_path / "in2" / "other"
    other.mkdir(parents=True)
    for i in range(2):
        (other / f"{i}.txt").write_text(_article(10 + i), encoding="utf-8")
    run_etl([tmp_path / "in2"], warehouse, workers=1)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM lake.articles WHERE source_name = 'other' AND contains(body, ?)", [FOOTER]).fetchone()[0] == 2
    con.close()


def test_a_recurring_byline_is_moved_not_removed():
    from news_etl.tasks.cleaning.clean import clean
    from news_etl.tasks.cleaning.line_stats import line_key
    from news_etl.tasks.cleaning.normalize import normalize
    from news_etl.tasks.cleaning.ruleset import load_rules

    byline = "Vu Anh (Laut Interfax, Reuters )"
    text = f"{_article(0)}\n\n{byline}\n"
    art = clean(text, load_rules([]), repeated={line_key(normalize(byline)), line_key(FOOTER)})
    assert art.byline and "Vu Anh" in art.byline and {"Interfax", "Reuters"} <= set(art.credits)
    assert [r for _, t, r in art.removed if t == FOOTER] == ["repeated_line"]


def test_a_title_is_never_a_line_with_boilerplate_in_it():
    """The first line goes as a repeated line; the next one is a sentence with an inline credit:
    judged without the credit it is no headline, so it stays in the body, cut."""
    from news_etl.tasks.cleaning.clean import clean
    from news_etl.tasks.cleaning.ruleset import load_rules

    credited = "Die Zahl der Fälle stieg in der vergangenen Woche. (Quelle: n-tv) |"
    text = f"{FOOTER}\n{credited}\nDie Behörden rechnen mit weiteren Fällen, sagte ein Sprecher am Montag in der Stadt.\n"
    art = clean(text, load_rules([]), repeated=lambda line: line == FOOTER)
    assert art.title is None and art.paragraphs[0] == "Die Zahl der Fälle stieg in der vergangenen Woche."
    assert (2, "(Quelle: n-tv) |", "inline_credit") in art.removed and "n-tv" in art.credits
    headline = clean("Quelle: n-tv\nFluthilfe kommt schneller an |\n" + text.split("\n", 2)[2], load_rules([]))
    assert headline.title == "Fluthilfe kommt schneller an" and (2, "|", "stray_pipe") in headline.removed
