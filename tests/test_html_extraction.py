"""HTML pages: trafilatura extracts the article, the text pass applies only the explicit rules, the
page's metadata is kept (author, publication time with its zone, site name) and every line of the
page's visible text the extractor left out is logged as boilerplate."""

from __future__ import annotations

from datetime import datetime, timezone

from news_etl.tasks.cleaning.clean import load_rules
from news_etl.tasks.ingest.batch import clean_document, extract_document
from news_etl.tasks.ingest.extract import RawDocument, doc_id_of
from news_etl.tasks.options import RunContext, RunOptions

RULES = load_rules()
OPTIONS = RunOptions()
PARAGRAPHS = [
    "Der Gemeinderat von Quxbrück hat am Dienstagabend nach langer Debatte den Bau von drei neuen Radwegen entlang des Flusses beschlossen.",
    "Die Arbeiten sollen im Frühjahr beginnen und bis zum Herbst abgeschlossen sein, sagte die Bürgermeisterin nach der Sitzung.",
    "Kritik kam von den Geschäftsleuten in der Innenstadt, die um Parkplätze fürchten und eine Bürgerversammlung fordern.",
    "Die Verwaltung will die Pläne in der kommenden Woche im Rathaus ausstellen, damit sich alle ein Bild machen können.",
    "Finanziert wird der Bau zu zwei Dritteln vom Land, den Rest trägt die Gemeinde aus ihren Rücklagen für den Verkehr.",
]
PAGE = f"""<!DOCTYPE html><html lang="de"><head><meta charset="utf-8">
<title>Radwege am Fluss kommen | Quxbrücker Morgenblatt</title>
<meta property="og:site_name" content="Quxbrücker Morgenblatt">
<meta name="author" content="Erika Musterfrau">
<meta property="article:published_time" content="2026-03-05T09:30:00+01:00">
</head><body>
<nav><ul><li><a href="/">Startseite</a></li><li><a href="/politik">Politik</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<article><h1>Radwege am Fluss kommen</h1>
{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
<p>http://example.org/plan-radwege</p>
</article>
<footer><p>Impressum</p><p>© 2026 Quxbrücker Morgenblatt</p></footer>
</body></html>"""


def _clean(page: str):
    data = page.encode("utf-8")
    doc = RawDocument(doc_id_of(data), "page.html", "test", "text/html", len(data), "utf-8", page)
    item = extract_document(doc, OPTIONS)
    return item, *clean_document(item, RULES, OPTIONS, RunContext("run", datetime.now(timezone.utc)))


def test_html_keeps_the_article_and_the_pages_metadata():
    item, row, removed = _clean(PAGE)
    assert row["title"] == "Radwege am Fluss kommen"  # the site's name is not part of the headline
    assert row["body"].split("\n\n")[:5] == PARAGRAPHS
    assert "http://example.org/plan-radwege" in row["body"]  # a URL the author wrote is text in an extractor's output
    assert row["byline"] == "Erika Musterfrau"
    assert row["site_name"] == "Quxbrücker Morgenblatt"
    assert row["published_at"] == datetime(2026, 3, 5, 8, 30, tzinfo=timezone.utc)  # 09:30+01:00, not midnight
    assert row["language"] == "de"


def test_html_lines_the_extractor_left_out_are_logged_with_its_name():
    item, row, removed = _clean(PAGE)
    by_extractor = {r["text"] for r in removed if r["rule"] == "extractor:trafilatura"}
    assert {"Startseite", "Politik", "Sport", "Impressum"} <= by_extractor
    assert not by_extractor & set(PARAGRAPHS) and "Radwege am Fluss kommen" not in by_extractor
    line_nos = [r["line_no"] for r in removed if r["rule"] == "extractor:trafilatura"]
    assert line_nos == sorted(line_nos) and min(line_nos) >= 1


def test_html_of_another_language_is_not_emptied():
    """The explicit rules only: no stop-word density decides anything on an extractor's output."""
    korean = ["엘제이의 리벤지인가, 류화영의 피해자 코스프레인가. 시작은 엘제이의 일방적인 사진 공개로부터 비롯됐다.",
              "그래서 처음 이러한 사진 공개에 대한 대중들의 반응은 엘제이의 행동에 대한 비난으로 이어졌다.",
              "하지만 이러한 류화영의 폭로에 대해 엘제이 역시 반박하고 나섰다. 그것이 전부 거짓말이라며 그 증거들을 제시했다."]
    page = PAGE.replace('lang="de"', 'lang="ko"')
    for de, ko in zip(PARAGRAPHS, korean + PARAGRAPHS[3:]):
        page = page.replace(de, ko)
    page = page.replace(PARAGRAPHS[3], korean[0] + " 두 번째").replace(PARAGRAPHS[4], korean[1] + " 세 번째")
    _, row, _ = _clean(page)
    assert row["language"] == "ko" and all(k in row["body"] for k in korean)
