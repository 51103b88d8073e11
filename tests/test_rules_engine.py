"""Rule patterns run on RE2 (tasks/cleaning/patterns.py): linear time whatever a user writes,
the same matches as Python's re on the lines we have, and a clear error for what RE2 cannot run."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from news_etl.tasks.cleaning.clean import clean, load_rules
from news_etl.tasks.cleaning.normalize import normalize
from news_etl.tasks.cleaning.patterns import PatternError, compile, translate
from tests.conftest import REPO, SEEDS

RULES = load_rules()
BENCH_TEXT = REPO / "bench" / "data" / "article-extraction-benchmark" / "text"


def _lines() -> list[str]:
    paths = sorted(SEEDS.glob("*.txt")) + sorted((REPO / "tests" / "corpus").rglob("*.txt")) + sorted(BENCH_TEXT.glob("*.txt"))
    return sorted({ln for p in paths for ln in normalize(p.read_text(encoding="utf-8")).split("\n") if ln})


def test_shipped_rules_match_on_re2_as_in_python():
    """Every shipped line rule removes the same lines on RE2 as Python's re would (first rule in
    file order that matches and allows the line's length), over the seeds, the corpus and the
    real pages' text dumps (English, German, Russian, Korean, Japanese, …)."""
    lines = _lines()
    assert len(lines) > 15_000
    for lang in (None, "de", "en"):
        r = RULES.for_language(lang)
        python = [re.compile(rule.pattern if rule.case else f"(?i:{rule.pattern})") for rule in r.line_rules]
        expected = {}
        for i, line in enumerate(lines):
            k = next((k for k, rx in enumerate(python) if len(line) <= r.line_rules[k].max_chars and rx.match(line)), None)
            if k is not None:
                expected[i] = k
        found = {i: k for i, (k, _) in r.match_lines(lines)[0].items()}
        diff = {lines[i]: (expected.get(i), found.get(i)) for i in set(expected) | set(found) if expected.get(i) != found.get(i)}
        assert not diff, (lang, list(diff.items())[:5])


def test_translation_keeps_pythons_meaning_on_a_line():
    assert compile(r"^\w+$").match("Jürgen") and compile(r"^\d+$").match("١٢٣")  # every script, as in Python
    assert compile(r"^[\W_]+$").match("*** ___") and not compile(r"^[\W_]+$").match("ÄÖÜ")
    assert compile(r"^caf\u00e9\Z").match("café") and compile(r"^a\sb$").match("a\u2009b")
    assert translate(r"[^.!?]") == r"[^.!?\n]"  # a negated class never crosses a line


def test_a_rule_re2_cannot_run_is_rejected_at_load_time_naming_file_and_rule(tmp_path):
    for pattern in ("(?<=foo)bar", "^(a)\\1$", "^(?>ab)c", "a*+", "(?s)^a.b$"):
        site = tmp_path / "site.toml"
        site.write_text(f"[[line]]\nname = 'my_rule'\npattern = '{pattern}'\n", encoding="utf-8")
        with pytest.raises(ValueError, match=r"site\.toml.*my_rule"):
            load_rules([str(site)])
    with pytest.raises(PatternError):
        compile("[^\\W\\d]")  # an intersection RE2 cannot express


def test_catastrophic_backtracking_rule_runs_in_linear_time(tmp_path):
    """`^(a+)+$` on 34 a's and a '!' backtracks for minutes in Python's re; on RE2 it is instant,
    in a run and in `news-etl explain`."""
    site = tmp_path / "evil.toml"
    site.write_text("[[line]]\nname = 'evil'\npattern = '^(a+)+$'\n", encoding="utf-8")
    doc = tmp_path / "doc.txt"
    text = "Der Gemeinderat hat am Dienstag den Haushalt beschlossen, sagte der Bürgermeister.\n" + "a" * 34 + "!\naaaa\n"
    doc.write_text(text, encoding="utf-8")
    started = time.process_time()
    art = clean(text, load_rules([str(site)]))
    assert time.process_time() - started < 1.0
    assert (3, "aaaa", "evil") in art.removed and (2, "a" * 34 + "!", "evil") not in art.removed
    res = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "explain", str(doc), "--rules", str(site)],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0 and "DROP evil" in res.stdout, res.stderr
