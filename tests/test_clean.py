"""The cleaning engine on the seeds and on small hand-made inputs (pure functions, no Prefect)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from news_etl.tasks.cleaning.clean import MOVED, clean, load_rules
from news_etl.tasks.cleaning.line_stats import count_line_keys, line_key
from news_etl.tasks.cleaning.normalize import fold, normalize
from tests.conftest import REPO, SEEDS
from tests.corpus_score import HOLDOUT, load_corpus

RULES = load_rules()
SEED = {p.name[:3]: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}
BOILERPLATE = (
    "[Anzeige_2]", "Kommentar (0)", "Leave a Reply", "Your email address will not be published",
    "Akismet", "Lesen Sie auch", "Perfect Diver", "Lesen Sie mehr mit", "rrt-allgemeines",
    "source-127", "(Quelle: Euro News)", "— World", "verstaerkte", "Quellenlink", "Foto: KCNA",
    "Vu Anh", "Interfax",
)
SEED_BOILERPLATE_LINES = {"[Anzeige_2]", "Quelle", "Quellenlink", "Kommentar (0)", "Leave a Reply", "rrt-allgemeines", "source-127"}


def _seed_articles():
    return {k: clean(text, RULES) for k, text in SEED.items()}


def test_seed_boilerplate_is_gone_from_title_and_body():
    for key, art in _seed_articles().items():
        text = "\n".join(filter(None, (art.title, art.subtitle, art.body)))
        for junk in BOILERPLATE:
            assert junk not in text, (key, junk)
        assert "Quelle\n" not in text + "\n" and not text.endswith("Quelle")


def test_seed_article_sentences_are_all_kept():
    """Every line of a seed that is not boilerplate survives in title, subtitle, body or captions."""
    for key, art in _seed_articles().items():
        kept = "\n".join(filter(None, (art.title, art.subtitle, art.body, *art.captions)))
        for line in normalize(SEED[key]).split("\n"):
            line = line.replace(" (Quelle: Euro News) |", "").removesuffix(" — World").removesuffix(" Foto: KCNA")
            if not line or line in SEED_BOILERPLATE_LINES or fold(line) == fold(art.title or "-") or line.startswith(("Lesen Sie", "Your email", "This site uses", "Vu Anh")):
                continue
            assert line in kept, (key, line[:80])


def test_seed_titles_found_and_not_invented():
    arts = _seed_articles()
    assert arts["000"].title is None and arts["002"].title is None  # both start with a body sentence
    assert arts["001"].title == "Kim betont verstärkte Zusammenarbeit mit Moskau"
    assert arts["001"].subtitle.startswith("Der nordkoreanische Präsident hat den Sekretär")
    assert arts["003"].title == "Putin und Kim Jong Un wollen ihre Zusammenarbeit verstärken"
    assert arts["004"].title == "Russland gibt zu, in „sensiblen“ Bereichen Beziehungen zu Nordkorea aufzubauen"
    assert "Seit dem Krieg in der Ukraine rückt Russland näher an Pjöngjang heran" in arts["003"].paragraphs  # subheading


def test_seed_captions_byline_and_credits():
    arts = _seed_articles()
    assert arts["002"].captions == ["Präsident Putin schüttelt dem nordkoreanischen Führer Kim Jong-un bei einem Treffen im Fernen Osten am 13. September die Hand."]
    assert arts["002"].byline == "Vu Anh"
    assert set(arts["002"].credits) == {"KCNA", "Interfax", "Reuters"}
    assert arts["000"].credits == ["Euro News"]
    assert arts["004"].credits == ["Euractiv"]
    assert all(a.language == "de" for a in arts.values())


@pytest.mark.parametrize("doc", load_corpus() + load_corpus(HOLDOUT) + [None], ids=lambda d: d.name if d else "seeds")
def test_nothing_is_dropped_silently(doc):
    """Every input line is kept, moved to a field, or logged in `removed` with its rule; text cut
    out of a kept line is logged too, so kept + logged characters add up to the input line."""
    texts = [doc.text] if doc else list(SEED.values())
    for text in texts:
        art = clean(text, RULES, trace=True)
        removed = {}
        for no, fragment, rule in art.removed:
            removed.setdefault(no, []).append((fragment, rule))
        paragraphs = iter(art.paragraphs)
        for no, line, action in art.trace:
            if action == "keep":
                kept = next(paragraphs)
                cut = "".join(f for f, _ in removed.get(no, []))
                assert Counter((kept + cut).replace(" ", "")) == Counter(line.replace(" ", "")), (no, line)
            elif action not in MOVED:
                assert any(rule == action for _, rule in removed.get(no, [])), (no, line, action)
        assert next(paragraphs, None) is None


def test_normalization():
    assert normalize("Pjo\u0308ngjang") == "Pjöngjang"  # NFC
    assert normalize("a\u00a0\u00a0b\u2009c") == "a b c"
    assert normalize("Ein\u00adzahlung zero\u200bwidth\ufeff") == "Einzahlung zerowidth"
    assert normalize("Moskau , sagte er . Reuters )") == "Moskau, sagte er. Reuters)"
    assert normalize("  eins  \r\nzwei\rdrei\u2028vier  \n\n") == "eins\nzwei\ndrei\nvier"
    assert normalize("Die Stadtwerke erhÃ¶hen die Preise fÃ¼r WÃ¤rme") == "Die Stadtwerke erhöhen die Preise für Wärme"
    assert normalize("Tom &amp; Jerry") == "Tom & Jerry"
    assert normalize("Wert .5 bleibt") == "Wert .5 bleibt"
    # line numbers in `removed` are the file's: leading blank lines are not dropped
    assert clean("\n\nDer Rat hat am Montag den Haushalt beschlossen, sagte der Bürgermeister.\n[Anzeige]\n", RULES).removed == [(4, "[Anzeige]", "ad_placeholder")]


def test_title_repeat_in_transliteration_and_with_section_suffix():
    art = clean("Grüne fordern mehr Busse — Politik\n\nGruene fordern mehr Busse\n\nDie Grünen im Landtag fordern mehr Busse für die Dörfer. Das Land soll zahlen.\n", RULES)
    assert art.title == "Grüne fordern mehr Busse"
    assert art.paragraphs == ["Die Grünen im Landtag fordern mehr Busse für die Dörfer. Das Land soll zahlen."]
    assert ("duplicate_title", "title_suffix") == tuple(sorted(r for _, _, r in art.removed))


def test_user_rules_file_adds_rules_without_python(tmp_path):
    notice = "Dieser Text wurde mit dem Redaktionssystem von Lokalblatt erstellt."
    text = f"Der Stadtrat hat den Haushalt für das kommende Jahr beschlossen, die Opposition stimmte dagegen.\n{notice}\nDie Kämmerin rechnet für das kommende Jahr mit einem Defizit von zwei Millionen Euro.\n"
    assert notice in clean(text, RULES).body
    site = tmp_path / "lokalblatt.toml"
    site.write_text("[[line]]\nname = \"cms_notice\"\npattern = '^dieser text wurde mit dem redaktionssystem von (?P<credit>lokalblatt) erstellt\\.$'\n", encoding="utf-8")
    art = clean(text, load_rules([str(site)]))
    assert notice not in art.body and (2, notice, "cms_notice") in art.removed
    assert art.credits == ["Lokalblatt"]
    site.write_text("[[line]]\nname = 'broken'\npattern = '(unclosed'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lokalblatt.toml"):
        load_rules([str(site)])
    with pytest.raises(ValueError, match="not found"):
        load_rules([str(tmp_path / "missing.toml")])


def test_rules_kept_in_a_process_are_read_again_when_a_file_changes(tmp_path):
    """A served deployment runs the flow many times in one process: the compiled rules are kept
    across runs, but an edited rules file (or its stop-word list) counts from the next run."""
    import os

    from news_etl.tasks.cleaning.ruleset import cached_rules

    site = tmp_path / "site.toml"
    words = tmp_path / "words.txt"
    words.write_text("und\n", encoding="utf-8")
    site.write_text("language = 'xx'\n[stopwords]\nfile = 'words.txt'\n"
                    "[[line]]\nname = 'promo'\npattern = '^jetzt abonnieren$'\n", encoding="utf-8")
    first = cached_rules([str(site)])
    assert cached_rules([str(site)]) is first
    assert cached_rules([str(site)]) is not cached_rules([])
    words.write_text("und\noder\n", encoding="utf-8")
    os.utime(words, ns=(1, 1))  # an mtime that differs whatever the file system's clock resolution
    second = cached_rules([str(site)])
    assert second is not first and "oder" in second.stopwords["xx"]
    site.write_text("[[line]]\nname = 'promo'\npattern = '^jetzt abonnieren!$'\n", encoding="utf-8")
    third = cached_rules([str(site)])
    assert third is not second and [r.pattern for r in third.files[-1].line] == ["^jetzt abonnieren!$"]


def test_language_picks_the_rule_set(tmp_path):
    en = "The council voted on Tuesday night to build new cycle lanes along the river, and the work will start in the spring.\nLesen Sie auch\nShop owners on the road had warned that fewer parking spaces could cost them customers.\n"
    de = "Der Gemeinderat hat am Dienstag beschlossen, neue Radwege entlang des Flusses zu bauen, die Arbeiten beginnen im Frühjahr.\nLesen Sie auch\nDie Geschäftsleute an der Straße hatten gewarnt, dass weniger Parkplätze sie Kunden kosten könnten.\n"
    assert clean(en, RULES).language == "en" and clean(de, RULES).language == "de"
    assert "Lesen Sie auch" in clean(en, RULES).body  # the German teaser rule is not applied to English text
    assert clean(de, RULES).removed == [(2, "Lesen Sie auch", "teaser")]
    only_en = tmp_path / "en_site.toml"
    only_en.write_text("language = 'en'\n[[line]]\nname = 'teaser_on_en_site'\npattern = '^lesen sie auch$'\n", encoding="utf-8")
    assert clean(en, load_rules([str(only_en)])).removed == [(2, "Lesen Sie auch", "teaser_on_en_site")]
    assert clean(de, load_rules([str(only_en)])).removed == [(2, "Lesen Sie auch", "teaser")]
    assert clean(de, RULES, language="en").language == "en"
    # what the batch stores: stop-word vote first, py3langid when unclear
    fr = "Le conseil municipal a voté mardi la construction de nouvelles pistes cyclables."
    assert [clean(t, RULES).language for t in (de, en, fr, "ok")] == ["de", "en", "fr", None]


def test_language_is_guessed_from_the_text_not_from_boilerplate(monkeypatch):
    """WordPress prints its comment form in English on German sites: a rule of every language
    removes it, so it has no vote (and py3langid, 74 MB per process, is not needed)."""
    import py3langid

    form = ("Your email address will not be published. Required fields are marked *\n"
            "Save my name, email, and website in this browser for the next time I comment.\n")
    de = "Die Stadt baut neue Radwege.\nDer Gemeinderat hat es am Dienstag beschlossen, weil es mehr Radfahrer gibt.\n"
    monkeypatch.setattr(py3langid, "classify", lambda text: pytest.fail(f"py3langid asked about {text!r}"))
    art = clean(form + de, RULES)
    assert art.language == "de"
    assert [rule for _, _, rule in art.removed] == ["comment_widget", "comment_widget"]


def test_language_vote_reads_enough_text_for_wordy_pages(monkeypatch):
    """A headline and a paragraph dense with adverbs and names (a generated benchmark page): the
    vote over 800 characters is clear, over 400 it was not, and every worker loaded py3langid."""
    import py3langid

    page = ("Dmitri Peskow kündigt Gespräche angeblich in Peking an\n\nQuelle\n\n"
            "Beobachter in Pjöngjang werten die Äußerungen von Kim endgültig kürzlich insbesondere Jong Un weiterhin "
            "als deutliches Signal an den Westen. Beobachter in Seoul werten die Äußerungen von Antony allerdings "
            "Blinken deutlich endgültig als deutliches Signal an den Westen. In Peking offiziell versammelten zunächst "
            "sich am nunmehr Abend rund 1269 Menschen zu einer Kundgebung.\n\n"
            "Your email address will not be published. Required fields are marked *\n\n"
            "Nach Angaben aus Seoul ebenfalls insbesondere wurden seit Jahresbeginn mehr gleichwohl als 1836 Fälle "
            "registriert. Sergej jedoch Lawrow sprach bislang kürzlich von einem „historischen Moment“ für die Region "
            "um Moskau. Ein Sprecher des Außenministeriums in Pjöngjang wollte sich zu insbesondere ausdrücklich "
            "allerdings den Berichten nicht äußern.\n")
    monkeypatch.setattr(py3langid, "classify", lambda text: pytest.fail(f"py3langid asked about {text!r}"))
    assert clean(page, RULES).language == "de"


def test_page_chrome_goes_by_density_not_by_phrase_lists():
    """Menu items no rule file names are removed because they are runs of short lines without
    sentence punctuation or stop words; the short lines of the article itself stay."""
    page = "\n".join([
        "Quxbrücker Morgenblatt", "Zeitgeschehen", "Landleben", "Vereinsleben", "Marktplatz", "Heimatkunde",
        "Schäferei am Deich gibt auf",
        "Nach vierzig Jahren gibt der letzte Schäfer am Elbdeich bei Quxbrück seine Herde auf. Es fehle an Nachwuchs und an Geld für die Deichpflege, sagte er.",
        "Die Folgen",
        "Ohne Schafe muss der Deich künftig gemäht werden, was den Landkreis deutlich mehr kostet als bisher.",
        "Er bleibt trotzdem im Dorf.",
        "Zeitgeschehen", "Landleben", "Vereinsleben", "Kontaktformular", "Anfahrt",
    ])
    art = clean(page, RULES)
    assert art.title == "Schäferei am Deich gibt auf"
    assert art.paragraphs[1:] == ["Die Folgen", "Ohne Schafe muss der Deich künftig gemäht werden, was den Landkreis deutlich mehr kostet als bisher.", "Er bleibt trotzdem im Dorf."]
    rules = Counter(r for _, _, r in art.removed)
    assert rules["nav_block"] >= 8 and sum(rules.values()) == 11


def test_favor_trades_precision_for_recall():
    doc = next(d for d in load_corpus(HOLDOUT) if d.name == "g02_en_inline_ads")
    last = "The figures will be updated again next month."  # a one-line paragraph after a newsletter box
    assert last in clean(doc.text, RULES).body
    assert last not in clean(doc.text, RULES, favor="precision").body
    page = next(d for d in load_corpus() if d.name == "de_11_dump_linkliste")
    recall = clean(page.text, RULES, favor="recall")
    assert "Kleinanzeigen" in recall.body and not any(r in {"nav_block", "short_line_context"} for _, _, r in recall.removed)
    assert "Kleinanzeigen" not in clean(page.text, RULES).body


def test_line_keys_and_repeated_lines():
    assert line_key("Kommentar (0)") == line_key("Kommentar (0)")
    assert line_key("Kommentar (0)") != line_key("Kommentar (1)")
    assert all(-(2**63) <= line_key(s) < 2**63 for s in ("", "a", "Ünïcödé " * 50))
    counts = count_line_keys(["Abo-Hotline 0800\nText A\nAbo-Hotline 0800\n", "Abo-Hotline 0800\nText B\n", "Text C\n"])
    assert counts[line_key("Abo-Hotline 0800")] == 2  # once per document
    prose = "Der Landkreis hat am Montag mitgeteilt, dass die Buslinie nach Quxbrück ab Juni wieder fährt und die Gemeinde die Kosten trägt."
    text = f"{prose}\nAbo-Hotline 0800\nWeitere Zeile des Artikels mit eigenem Inhalt, die bleibt, weil niemand sie meldet.\n"
    frequent = {line_key("Abo-Hotline 0800"), line_key(prose)}
    art = clean(text, RULES, repeated=frequent)
    assert (2, "Abo-Hotline 0800", "repeated_line") in art.removed
    assert prose in art.paragraphs  # long prose never goes just because it repeats
    assert clean(text, RULES, repeated=lambda line: line.startswith("Abo")).removed == [(2, "Abo-Hotline 0800", "repeated_line")]


def test_cli_explain_prints_every_line_with_its_rule(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "explain", str(SEEDS / "002_94487af1b5de2620.txt")],
        capture_output=True, text=True, cwd=REPO, check=True,
    )
    out = res.stdout
    assert "DROP ad_placeholder" in out and "DROP source_label" in out and "MOVE caption" in out and "MOVE byline" in out
    assert "byline:   Vu Anh" in out and "credits:  KCNA, Interfax, Reuters" in out
    assert sum(1 for line in out.splitlines() if line[:5].strip().isdigit()) == 14  # one row per input line
    site = tmp_path / "site.toml"
    # a 297-character line: rules try lines up to max_chars (default 200) only
    site.write_text("[[line]]\nname = 'kremlin_quote'\nmax_chars = 400\npattern = '^„nein, es wurden.*$'\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "explain", str(SEEDS / "002_94487af1b5de2620.txt"), "--rules", str(site)],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout
    assert "DROP kremlin_quote" in out


def test_letter_case_is_ignored_in_every_section_unless_a_rule_says_case(tmp_path):
    """[[line]] rules ignored case and [[caption]]/[[byline]] did not: now every section ignores it
    unless the entry says case = true."""
    text = "Titel der Meldung\n\nREPORTAGE VON: Anna Schmidt\n\n" + "Der Rat hat am Montag lange über den Haushalt beraten. " * 3 + \
        "\n\nDer Saal war voll. BILDNACHWEIS: Stadtarchiv Musterstadt\n\n" + "Die Abstimmung folgt am Donnerstag im Rathaus der Stadt. " * 3
    mine = tmp_path / "mine.toml"
    mine.write_text("[[byline]]\npattern = '^reportage von: (?P<author>\\w+ \\w+)$'\n"
                    "[[caption]]\ntail_contains = ['bildnachweis']\n"
                    "pattern = '^(?P<caption>.{10,}?[.!?])\\s+bildnachweis: (?P<credit>.+)$'\n")
    art = clean(text, load_rules([str(mine)]))
    assert art.byline == "Anna Schmidt"
    assert art.captions == ["Der Saal war voll."] and "Stadtarchiv Musterstadt" in art.credits
    strict = tmp_path / "strict.toml"
    strict.write_text(mine.read_text().replace("[[byline]]\n", "[[byline]]\ncase = true\n")
                      .replace("[[caption]]\n", "[[caption]]\ncase = true\n"))
    art = clean(text, load_rules([str(strict)]))
    assert art.byline is None and not art.captions
