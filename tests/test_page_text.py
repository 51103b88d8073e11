"""Whole-page text in every language: the density signals judge a page by its own language's stop
words (jusText's lists), or by length and punctuation where there is no list or no spaces between
words, find the article's stretch of the page, and never empty a page on their own."""

from __future__ import annotations

from news_etl.tasks.cleaning.clean import clean, load_rules
from tests.conftest import REPO

RULES = load_rules()
PAGES = REPO / "bench" / "data" / "article-extraction-benchmark" / "text"


def _page(prefix: str) -> str:
    return next(PAGES.glob(f"{prefix}*.txt")).read_text(encoding="utf-8")


def test_a_korean_page_keeps_its_article_and_loses_its_menus():
    """The page the issue found emptied: every paragraph went for too few German/English stop words."""
    art = clean(_page("0ec95c72"), RULES)
    assert art.language == "ko" and len(art.paragraphs) >= 10
    assert any(p.startswith("[엔터미디어=정덕현의 이슈공감]") for p in art.paragraphs)
    assert not {"전체뉴스", "드라마", "예능"} & set(art.paragraphs)  # the menu


def test_a_page_without_spaces_between_words_is_judged_by_length_and_punctuation():
    art = clean(_page("f105de6e"), RULES)
    assert art.language == "ja"
    assert any("Kindle書籍を読む場合は" in p for p in art.paragraphs)
    assert not {"サイトマップ", "プライバシーポリシー", "お問い合わせ"} & set(art.paragraphs)


def test_a_language_without_a_stop_word_list_keeps_its_prose():
    art = clean(_page("0ec95c72"), RULES, language="zz")  # no list: length and punctuation only
    assert len(art.paragraphs) >= 10 and "전체뉴스" not in art.paragraphs


def test_density_alone_never_empties_a_page():
    poem = "\n".join(["Der Mond ist aufgegangen", "Die goldnen Sternlein prangen", "Am Himmel hell und klar",
                      "Der Wald steht schwarz und schweiget", "Und aus den Wiesen steiget", "Der weiße Nebel wunderbar"])
    art = clean(poem, RULES)
    assert art.paragraphs and not any(rule in ("nav_block", "short_line_context") for _, _, rule in art.removed)


def test_the_article_is_one_stretch_of_the_page():
    """Teasers after the article, and a comment thread after its header, are not the article."""
    article = ["Der Gemeinderat von Quxbrück hat am Dienstagabend nach langer Debatte den Bau von drei neuen Radwegen beschlossen.",
               "Die Arbeiten sollen im Frühjahr beginnen und bis zum Herbst abgeschlossen sein, sagte die Bürgermeisterin.",
               "Kritik kam von den Geschäftsleuten in der Innenstadt, die um ihre Parkplätze fürchten und eine Versammlung fordern.",
               "Werbung",
               "Die Verwaltung will die Pläne in der kommenden Woche im Rathaus ausstellen, damit sich alle ein Bild machen können."]
    comments = ["Kommentare", "Hans M. schrieb am 3. März:", "Das ist doch eine gute Nachricht für alle, die in der Stadt mit dem Rad unterwegs sind.",
                "Petra K. schrieb am 3. März:", "Ich finde, die Parkplätze in der Innenstadt sind wichtiger als neue Radwege für wenige."]
    page = "\n".join(["Startseite", "Politik", "Sport", "Kultur", "Radwege am Fluss kommen", *article, *comments])
    art = clean(page, RULES)
    assert art.title == "Radwege am Fluss kommen"
    assert art.paragraphs == [line for line in article if line != "Werbung"]
    assert {"outside_main_text"} <= {rule for _, _, rule in art.removed}
