"""Bad input: one real flow run over everything a scraper produces; each bad item is quarantined once."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import zlib
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SEEDS, run_etl

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + bytes(range(256))
CP1252_TEXT = (
    "Heizöl wird in Köln teurer\n"
    "Die Preise für Heizöl in Köln stiegen in dieser Woche um 12 € pro 100 Liter, berichtete der Händlerverband am Dienstag.\n"
    "Viele Bürger äußerten sich besorgt über die Entwicklung, weil die Nebenkosten schon im Frühjahr gestiegen waren.\n"
    "Der Verband rechnet damit, dass sich die Lage vor dem Winter nicht grundsätzlich ändert.\n"
)
MAX_DOC_BYTES = 1024 * 1024
HUGE_BYTES = 50 * 1024 * 1024


def _words(rng: random.Random, n: int) -> str:
    vocab = "Moskau Pjöngjang Regierung Treffen Zusammenarbeit Sprecher Minister erklärte sagte Woche Delegation Vertrag".split()
    return " ".join(rng.choice(vocab) + str(rng.randrange(10_000)) for _ in range(n))


def _article_html(title: str, sentence: str) -> str:
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{sentence * 6}</p></article></body></html>"


def build_inputs(root: Path, outside: Path) -> dict:
    """Write the input tree; return {relative name: (expected reason, bytes copied or None)} and the good names."""
    root.mkdir()
    bad: dict[str, tuple[str, bytes | None]] = {}
    for seed in sorted(SEEDS.iterdir())[:2]:
        shutil.copy(seed, root / seed.name)

    (root / "empty.txt").write_bytes(b"")
    bad["empty.txt"] = ("empty", b"")
    (root / "image.txt").write_bytes(PNG)
    bad["image.txt"] = ("binary", PNG)

    # A UTF-8 article damaged by a cut multi-byte sequence and a stray byte: decoding it as a legacy
    # code page would turn every umlaut into mojibake.
    utf8 = (SEEDS / sorted(os.listdir(SEEDS))[2]).read_bytes()
    broken = utf8[:200] + b"\xe2\x82" + utf8[200:400] + b"\xff" + utf8[400:]
    (root / "broken_utf8.txt").write_bytes(broken)
    bad["broken_utf8.txt"] = ("invalid_utf8", broken)

    (root / "cp1252.txt").write_bytes(CP1252_TEXT.encode("cp1252"))

    with open(root / "huge.txt", "wb") as fh:  # one 50 MB line
        chunk = b"Putin Kim Zusammenarbeit " * 40_000
        while fh.tell() < HUGE_BYTES:
            fh.write(chunk)
    bad["huge.txt"] = ("too_large", None)  # copy compared by hash below

    # Malformed HTML: an unclosed comment swallows the body, so nothing is extractable -> quarantine.
    broken_html = "<html><head><title>Kim in Moskau</title></head><body><!-- teaser <div><p>" + "Putin und Kim trafen sich. " * 10
    (root / "unclosed_comment.html").write_text(broken_html, encoding="utf-8")
    bad["unclosed_comment.html"] = ("no_content", broken_html.encode("utf-8"))
    # Markup debris: trafilatura returns the stray characters as text, which are no article.
    debris = "<<<>>><html<body></p></div>&&&"
    (root / "debris.html").write_text(debris, encoding="utf-8")
    bad["debris.html"] = ("no_content", debris.encode("utf-8"))
    # Mis-nested and unclosed tags around real text: lxml recovers, the article loads.
    (root / "misnested.html").write_text(
        "<html><body><div class='article'><h1>Putin empfängt Kim</h1><p>" + "Putin und Kim trafen sich in Moskau zu Gesprächen. " * 8
        + "<p>Zweiter Absatz <b>fett <i>kursiv</div></span></td></html><p", encoding="utf-8")

    lines = [
        json.dumps({"id": "a1", "text": "Kim reist nach Moskau\n" + "Die Delegation aus Pjöngjang traf am Montag in Moskau ein. " * 4}) + "\n",
        '{"id": "a2", "text": "abgeschnitten\n',
        json.dumps({"id": "a3", "url": "https://example.org/a3", "html": _article_html("Vertrag unterzeichnet", "Beide Seiten unterzeichneten einen Vertrag über Zusammenarbeit. ")}) + "\n",
    ]
    (root / "records.jsonl").write_text("".join(lines), encoding="utf-8")
    bad["records.jsonl#L2"] = ("malformed_json", lines[1].encode("utf-8"))

    rng = random.Random(5)
    article = sorted(SEEDS.iterdir())[3].read_text(encoding="utf-8")
    # random words in an unused field keep gzip from packing all 40 lines into the first half
    head, rest = article.split("\n\n", 1)
    records = "".join(json.dumps({"id": f"g{i}", "note": _words(rng, 300),
                                  "text": f"{head}\n\nDie Behörden meldeten am Abend {i} weitere Fälle.\n\n{rest}"}) + "\n"
                      for i in range(40))
    packed = gzip.compress(records.encode("utf-8"))
    truncated = packed[: len(packed) // 2]
    (root / "archive.jsonl.gz").write_bytes(truncated)
    bad["archive.jsonl.gz"] = ("truncated", truncated)

    (root / "loop.txt").symlink_to("loop.txt")
    bad["loop.txt"] = ("symlink_loop", None)
    (root / "sub").mkdir()
    (root / "sub" / "again").symlink_to("..", target_is_directory=True)
    bad["sub/again"] = ("symlink_loop", None)

    (root / "dangling.txt").symlink_to("deleted-meanwhile.txt")
    bad["dangling.txt"] = ("broken_link", None)
    os.mkfifo(root / "pipe.txt")  # opening it would block forever
    bad["pipe.txt"] = ("not_a_file", None)

    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET-OUTSIDE-ROOT\n" * 20, encoding="utf-8")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    bad["leak.txt"] = ("link_outside_root", None)

    if os.geteuid() != 0:  # root reads a chmod 000 file anyway
        locked = root / "locked.txt"
        locked.write_text("Gesperrte Datei mit Inhalt.\n", encoding="utf-8")
        locked.chmod(0)
        bad["locked.txt"] = ("unreadable", None)

    complete_lines = zlib.decompressobj(wbits=31).decompress(truncated).count(b"\n")
    return {"bad": bad, "gz_complete_lines": complete_lines}


@pytest.fixture(scope="module")
def bad_run(prefect_harness, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input")
    root, warehouse = base / "inputs", base / "wh"
    spec = build_inputs(root, base / "outside")
    try:
        summary = run_etl([str(root)], str(warehouse), workers=2, batch_docs=4, max_doc_bytes=MAX_DOC_BYTES)
    finally:
        if (root / "locked.txt").exists():
            (root / "locked.txt").chmod(0o644)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    yield {"summary": summary, "root": root, "warehouse": warehouse, "con": con, **spec}
    con.close()


def _relative(uri: str, root: Path) -> str:
    rel = os.path.relpath(uri, root)
    return rel.split("#L")[0] if rel.startswith("archive.jsonl.gz#") else rel


def test_each_bad_item_is_one_quarantine_row_with_its_reason(bad_run):
    rows = bad_run["con"].sql("select source_uri, reason, detail, n_bytes, copy_path from lake.quarantine").fetchall()
    got = {}
    for uri, reason, detail, n_bytes, copy_path in rows:
        name = _relative(uri, bad_run["root"])
        assert name not in got, f"{name} quarantined twice"
        assert detail, f"{name}: no detail"
        got[name] = reason
    assert got == {name: reason for name, (reason, _) in bad_run["bad"].items()}
    assert bad_run["summary"].quarantined == len(bad_run["bad"])


def test_quarantine_keeps_a_byte_copy_where_bytes_were_readable(bad_run):
    warehouse = bad_run["warehouse"]
    rows = bad_run["con"].sql("select source_uri, n_bytes, copy_path from lake.quarantine").fetchall()
    for uri, n_bytes, copy_path in rows:
        name = _relative(uri, bad_run["root"])
        reason, expected = bad_run["bad"][name]
        if reason in ("symlink_loop", "link_outside_root", "broken_link", "not_a_file", "unreadable"):
            assert copy_path is None and n_bytes is None, name
            continue
        copy = warehouse / copy_path
        assert copy.is_file() and copy.stat().st_size == n_bytes, name
        digest = hashlib.sha256()
        with open(copy, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        assert copy.name == f"{digest.hexdigest()}.bin"
        if name == "huge.txt":
            assert n_bytes == (bad_run["root"] / "huge.txt").stat().st_size >= HUGE_BYTES
        else:
            assert copy.read_bytes() == expected, name
    leftovers = [p for p in (warehouse / "quarantine").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_good_documents_load_next_to_bad_ones(bad_run):
    con, root = bad_run["con"], bad_run["root"]
    uris = {_relative(u, root) for (u,) in con.sql("select source_uri from lake.documents").fetchall()}
    expected = {p.name for p in sorted(SEEDS.iterdir())[:2]} | {"cp1252.txt", "misnested.html", "records.jsonl#L1", "records.jsonl#L3"}
    assert uris == expected | {"archive.jsonl.gz"}  # the complete lines before the damage load
    gz_docs = con.sql("select count(*) from lake.documents where source_uri like '%archive.jsonl.gz#L%'").fetchone()[0]
    assert 0 < bad_run["gz_complete_lines"] == gz_docs < 40
    assert con.sql("select count(*) from marts.articles").fetchone()[0] == len(expected) + gz_docs
    assert bad_run["summary"].articles_out == len(expected) + gz_docs


def test_cp1252_text_is_decoded_not_quarantined(bad_run):
    encoding, raw = bad_run["con"].sql(
        "select encoding, raw_text from lake.documents where source_uri like '%/cp1252.txt'").fetchone()
    assert encoding == "cp1252"
    assert raw == CP1252_TEXT
    body = bad_run["con"].sql("select body from lake.articles where source_uri like '%/cp1252.txt'").fetchone()[0]
    for word in ("12 € pro 100 Liter", "Köln", "äußerten", "Bürger", "grundsätzlich"):
        assert word in body


def test_nothing_from_outside_the_root_is_read(bad_run):
    con = bad_run["con"]
    assert con.sql("select count(*) from lake.documents where raw_text like '%TOP-SECRET%'").fetchone()[0] == 0
    assert con.sql("select count(*) from lake.articles where body like '%TOP-SECRET%'").fetchone()[0] == 0
    secret = b"TOP-SECRET-OUTSIDE-ROOT"
    for path in bad_run["warehouse"].rglob("*"):
        if path.is_file() and path.stat().st_size < 10 * 1024 * 1024:
            assert secret not in path.read_bytes(), path


GERMAN = "Außenminister Lawrow erklärte, die Zusammenarbeit mit Pjöngjang werde verstärkt – für 5 € pro Übung.\n" * 3


@pytest.mark.parametrize("data, expected", [
    (GERMAN.encode("utf-8"), ("utf-8", GERMAN)),
    (GERMAN.encode("utf-8")[:-3] + "ä".encode("utf-8")[:1], ("utf-8", GERMAN[:-3])),  # cut mid-character
    (GERMAN.encode("cp1252"), ("cp1252", GERMAN)),
    (GERMAN.replace("€", "EUR").replace("–", "-").encode("latin-1"), ("cp1252", GERMAN.replace("€", "EUR").replace("–", "-"))),
    (GERMAN.encode("utf-16"), ("utf-16", GERMAN)),
    (GERMAN.encode("utf-8").replace(b"\xc3\xa4", b"\xc3", 1), ("invalid_utf8", None)),  # one damaged umlaut
    (b"", ("empty", None)),
    (b" \n\t ", ("empty", None)),
    (PNG, ("binary", None)),
    (b"%PDF-1.7\n" + bytes(range(256)), ("binary", None)),
])
def test_decode(data, expected):
    from news_etl.tasks.ingest.extract import BadInput, decode

    encoding, text = expected
    if text is None:
        with pytest.raises(BadInput) as err:
            decode(data)
        assert err.value.reason == encoding
    else:
        assert decode(data) == (text, encoding)
