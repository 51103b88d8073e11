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

    prose = "Die Delegation aus Pjöngjang traf am Montag in Moskau ein. " * 4
    lines = [
        json.dumps({"id": "a1", "text": "Kim reist nach Moskau\n" + prose}) + "\n",
        '{"id": "a2", "text": "abgeschnitten\n',
        json.dumps({"id": "a3", "url": "https://example.org/a3", "html": _article_html("Vertrag unterzeichnet", "Beide Seiten unterzeichneten einen Vertrag über Zusammenarbeit. ")}) + "\n",
        # valid JSON, but no Unicode text: a lone surrogate cannot be encoded, in the text or the source
        '{"id": "a4", "text": "Kim \\ud800 reist. ' + prose + '"}\n',
        '{"id": "a5", "source": "agentur\\udc00", "text": "' + prose + '"}\n',
        json.dumps({"id": "a6", "url": "http://[::1", "text": prose}) + "\n",  # urlsplit: Invalid IPv6 URL
    ]
    (root / "records.jsonl").write_text("".join(lines), encoding="utf-8")
    bad["records.jsonl#L2"] = ("malformed_json", lines[1].encode("utf-8"))
    bad["records.jsonl#L4"] = ("invalid_unicode", lines[3].encode("utf-8"))
    bad["records.jsonl#L5"] = ("invalid_unicode", lines[4].encode("utf-8"))
    bad["records.jsonl#L6"] = ("invalid_url", lines[5].encode("utf-8"))

    # A record longer than max_doc_bytes between two good ones: its quarantine copy is the whole line.
    long_line = json.dumps({"id": "l2", "text": "Lang " * (MAX_DOC_BYTES // 4)}).encode("utf-8") + b"\n"

    def good_line(key: str) -> bytes:
        return json.dumps({"id": key, "text": f"Kim reist nach Moskau\n{prose}Meldung {key} endet hier."}).encode("utf-8") + b"\n"

    (root / "long.jsonl").write_bytes(good_line("l1") + long_line + good_line("l3"))
    bad["long.jsonl#L2"] = ("too_large", long_line)
    # The same in a .jsonl.gz: the line exists only decompressed, so the copy is the compressed file.
    packed_long = gzip.compress(long_line)
    (root / "long.jsonl.gz").write_bytes(packed_long)
    bad["long.jsonl.gz"] = ("too_large", packed_long)

    # A gzip bomb after one good record: 80 MiB of zeros pack into 80 KB; reading stops at the
    # ratio limit, the record before it loads.
    bomb = gzip.compress(good_line("b1") + bytes(80 * 1024 * 1024), compresslevel=9)
    (root / "bomb.jsonl.gz").write_bytes(bomb)
    bad["bomb.jsonl.gz"] = ("gzip_bomb", bomb)

    # UTF-16 without a BOM, as some Windows tools write it: text, not binary
    (root / "utf16.txt").write_bytes(CP1252_TEXT.encode("utf-16-le"))
    # the same bytes under a second name: read twice, loaded once, counted as a duplicate
    shutil.copy(root / "cp1252.txt", root / "cp1252-again.txt")

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
    state = {"summary": summary, "root": root, "warehouse": warehouse,
             "con": duckdb.connect(str(warehouse / "news.duckdb"), read_only=True), **spec}
    yield state
    state["con"].close()


def _relative(uri: str, root: Path) -> str:
    rel = os.path.relpath(uri, root)
    return rel.split("#L")[0] if ".jsonl.gz#" in rel else rel


def test_each_bad_item_is_one_quarantine_row_with_its_reason(bad_run):
    rows = bad_run["con"].sql("select source_uri, reason, detail, n_bytes, copy_path from lake.quarantine").fetchall()
    got = {}
    for uri, reason, detail, n_bytes, copy_path in rows:
        name = _relative(uri, bad_run["root"])
        assert name not in got, f"{name} quarantined twice"
        assert detail, f"{name}: no detail"
        got[name] = reason
    assert got == {name: reason for name, (reason, _) in bad_run["bad"].items()}
    summary = bad_run["summary"]
    assert summary.quarantined == len(bad_run["bad"])
    assert summary.duplicates == 1  # cp1252-again.txt
    assert summary.documents_in == summary.articles_out + summary.duplicates + summary.quarantined


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
        if name == "long.jsonl.gz":  # the row counts the line, the copy is the compressed file holding it
            assert n_bytes == len(bad_run["bad"]["long.jsonl#L2"][1]) and copy.stat().st_size == len(expected)
        else:
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
    expected = {p.name for p in sorted(SEEDS.iterdir())[:2]} | {"misnested.html", "records.jsonl#L1", "records.jsonl#L3",
                                                              "long.jsonl#L1", "long.jsonl#L3", "utf16.txt"}
    cp1252 = {"cp1252.txt", "cp1252-again.txt"} & uris
    assert len(cp1252) == 1  # one of the two copies, whichever was read first
    expected |= cp1252
    assert uris == expected | {"archive.jsonl.gz", "bomb.jsonl.gz"}  # the complete lines before the damage load
    assert con.sql("select count(*) from lake.documents where source_uri like '%bomb.jsonl.gz#L1'").fetchone()[0] == 1
    gz_docs = con.sql("select count(*) from lake.documents where source_uri like '%archive.jsonl.gz#L%'").fetchone()[0]
    assert 0 < bad_run["gz_complete_lines"] == gz_docs < 40
    # + the bomb's first record; utf16.txt holds cp1252.txt's text, so the two make one unique article
    assert con.sql("select count(*) from marts.articles").fetchone()[0] == len(expected) + gz_docs + 1 - 1
    assert bad_run["summary"].articles_out == len(expected) + gz_docs + 1


@pytest.mark.parametrize("name, encoding", [("cp1252", "cp1252"), ("utf16.txt", "utf-16-le")])
def test_legacy_and_bomless_text_is_decoded_not_quarantined(bad_run, name, encoding):
    found, raw = bad_run["con"].sql(
        f"select encoding, raw_text from lake.documents where source_uri like '%/{name}%'").fetchone()
    assert found == encoding
    assert raw == CP1252_TEXT
    body = bad_run["con"].sql(f"select body from lake.articles where source_uri like '%/{name}%'").fetchone()[0]
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


def test_a_rerun_finds_every_input_unchanged(bad_run):
    """Nothing is read again, and nothing is counted again: not the bad files, not the rejected links."""
    locked = bad_run["root"] / "locked.txt"
    if locked.exists():
        locked.chmod(0)  # as it was in the first run
    bad_run["con"].close()  # one process cannot attach the file twice
    try:
        again = run_etl([str(bad_run["root"])], str(bad_run["warehouse"]), workers=2, batch_docs=4, max_doc_bytes=MAX_DOC_BYTES)
    finally:
        bad_run["con"] = duckdb.connect(str(bad_run["warehouse"] / "news.duckdb"), read_only=True)
        if locked.exists():
            locked.chmod(0o644)
    assert again.inputs_found == again.inputs_unchanged > 0
    assert (again.documents_in, again.quarantined, again.duplicates, again.articles_out) == (0, 0, 0, 0)


GERMAN = "Außenminister Lawrow erklärte, die Zusammenarbeit mit Pjöngjang werde verstärkt – für 5 € pro Übung.\n" * 3


@pytest.mark.parametrize("data, expected", [
    (GERMAN.encode("utf-8"), ("utf-8", GERMAN)),
    (GERMAN.encode("utf-8")[:-3] + "ä".encode("utf-8")[:1], ("utf-8", GERMAN[:-3])),  # cut mid-character
    (GERMAN.encode("cp1252"), ("cp1252", GERMAN)),
    (GERMAN.replace("€", "EUR").replace("–", "-").encode("latin-1"), ("cp1252", GERMAN.replace("€", "EUR").replace("–", "-"))),
    (GERMAN.encode("utf-16"), ("utf-16", GERMAN)),
    (GERMAN.encode("utf-16-le"), ("utf-16-le", GERMAN)),  # no BOM
    (GERMAN.encode("utf-16-be"), ("utf-16-be", GERMAN)),
    (GERMAN.encode("utf-16-le")[:-1], ("utf-16-le", GERMAN[:-1])),  # cut mid-character
    ("Лавров заявил, что сотрудничество будет расширено.\n".encode("utf-16-le"),
     ("utf-16-le", "Лавров заявил, что сотрудничество будет расширено.\n")),
    (GERMAN.encode("utf-32-le"), ("utf-32-le", GERMAN)),
    (b"\x00\x01\x02\x03" * 200 + GERMAN.encode("utf-8"), ("binary", None)),  # zeros at every offset
    (b"".join(i.to_bytes(2, "little") for i in range(1, 400)), ("binary", None)),  # 16-bit numbers, not text
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


# -- whatever goes wrong with one document stays with that document


def _process(paths: list[Path], warehouse: Path, **options):
    from datetime import datetime, timezone

    from news_etl.tasks.ingest.batch import process_files
    from news_etl.tasks.ingest.inputs import walk
    from news_etl.tasks.options import RunContext, RunOptions

    opts = RunOptions(inputs=[str(p) for p in paths], warehouse=str(warehouse), **options).resolved()
    return process_files(list(walk(opts.inputs)), opts, RunContext("t", datetime.now(timezone.utc)), 0)


def _staged(result, table: str) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for chunk in result.chunks if table in chunk for row in pq.read_table(chunk[table]).to_pylist()]


def test_an_unexpected_error_quarantines_its_document_not_the_batch(tmp_path, monkeypatch):
    """A bug or an input nobody foresaw, in cleaning or in the chunk's vectorised fingerprints:
    that document is quarantined (reason 'error', with its bytes), the others load."""
    import news_etl.tasks.ingest.batch as batch

    root = tmp_path / "in"
    root.mkdir()
    for seed in sorted(SEEDS.iterdir()):
        shutil.copy(seed, root / seed.name)
    names = sorted(p.name for p in root.iterdir())
    real_clean, real_minhashes = batch.clean_document, batch.minhashes

    def clean_document(item, *args, **kwargs):
        if item.doc.source_uri.endswith(names[1]):
            raise KeyError("a bug in cleaning")
        return real_clean(item, *args, **kwargs)

    singles = []

    def minhashes(bodies, *args, **kwargs):  # fails on the whole chunk and on its first article alone
        singles.append(len(bodies) == 1)
        if len(bodies) > 1 or singles.count(True) == 1:
            raise ValueError("a bug in the fingerprints")
        return real_minhashes(bodies, *args, **kwargs)

    monkeypatch.setattr(batch, "clean_document", clean_document)
    monkeypatch.setattr(batch, "minhashes", minhashes)
    result = _process([root], tmp_path / "wh")
    rows = {os.path.basename(r["source_uri"]): r for r in _staged(result, "quarantine")}
    docs = {os.path.basename(r["source_uri"]) for r in _staged(result, "documents")}
    assert rows[names[1]]["reason"] == "error" and rows[names[1]]["detail"].startswith("KeyError in cleaning")
    failed = {n for n, r in rows.items() if r["detail"].startswith("ValueError in fingerprints")}
    assert len(failed) == 1 and names[1] not in failed
    assert docs == set(names) - set(rows) and len(docs) >= 2
    assert (result.documents, result.quarantined) == (len(docs), len(rows))
    copy = tmp_path / "wh" / rows[names[1]]["copy_path"]
    assert copy.read_bytes() == (root / names[1]).read_bytes()  # the bytes as read, not the decoded text
    assert len(_staged(result, "articles")) == len(docs)


def test_counts_and_sizes_agree(tmp_path):
    """The same bytes under two names: one document and one duplicate. A JSONL line over
    max_doc_bytes: its row's n_bytes is the line's size, the size its detail names, and its
    copy is the whole line."""
    root = tmp_path / "in"
    root.mkdir()
    seed = sorted(SEEDS.iterdir())[0]
    shutil.copy(seed, root / "a.txt")
    shutil.copy(seed, root / "a-again.txt")
    prose = "Die Delegation aus Pjöngjang traf am Montag in Moskau ein. " * 4
    good = [json.dumps({"id": k, "text": f"Kim reist nach Moskau\n{prose}Meldung {k}."}).encode() + b"\n" for k in "xy"]
    long_line = json.dumps({"id": "z", "text": "Lang " * 80_000}).encode() + b"\n"
    (root / "feed.jsonl").write_bytes(good[0] + long_line + good[1])
    result = _process([root], tmp_path / "wh", max_doc_bytes=64 * 1024)
    assert (result.documents, result.duplicates, result.quarantined, result.documents_in) == (3, 1, 1, 5)
    [row] = _staged(result, "quarantine")
    assert (row["source_uri"], row["reason"]) == (f"{root / 'feed.jsonl'}#L2", "too_large")
    assert row["n_bytes"] == len(long_line) and f"{len(long_line)} bytes" in row["detail"]
    assert (tmp_path / "wh" / row["copy_path"]).read_bytes() == long_line


def _peak_growth(code: str) -> str:
    """A script that runs ``code`` after a warm-up (``WARMUP``) and prints its ``out`` (JSON) with
    how far its peak RSS rose above its RSS before ``code`` (/proc: VmHWM reset by clear_refs)."""
    return (
        "import json\n"
        "def status(key):\n"
        "    return next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith(key))\n"
        "WARMUP\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "before = status('VmRSS')\n"
        f"{code}\n"
        "print(json.dumps({**out, 'growth': status('VmHWM') - before}))\n"
    )


def _run_measured(script: str, warmup: str = "") -> dict:
    import subprocess
    import sys

    from tests.conftest import installed_env

    proc = subprocess.run([sys.executable, "-c", script.replace("WARMUP", warmup)], capture_output=True, text=True,
                          timeout=300, env=installed_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_a_gzip_bomb_is_read_in_bounded_memory(tmp_path):
    """256 MiB of zeros without a line end, packed into 256 KB: reading holds at most one
    document's worth (max_doc_bytes) at a time even with the ratio limit out of the way."""
    path = tmp_path / "bomb.jsonl.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as fh:
        fh.write(packer.compress(b'{"text": "ok"}\n'))
        for _ in range(256):
            fh.write(packer.compress(bytes(1 << 20)))
        fh.write(packer.flush())
    warmup = (
        "from news_etl.tasks.ingest.extract import read_file\n"
        "from news_etl.tasks.ingest.inputs import walk\n"
        "from news_etl.tasks.options import RunOptions\n"
        f"options = RunOptions(max_doc_bytes={MAX_DOC_BYTES}, max_gzip_ratio=1e6)\n"
    )
    code = (
        f"items = [(type(i).__name__, getattr(i, 'reason', None)) for f in walk([{str(path)!r}]) for i in read_file(f, options)]\n"
        "out = {'items': items}"
    )
    got = _run_measured(_peak_growth(code), warmup)
    assert got["items"] == [["RawDocument", None], ["Quarantined", "too_large"]]
    assert got["growth"] < 16 * MAX_DOC_BYTES, got["growth"]  # the old reader held the whole 256 MiB line


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_a_big_document_costs_a_small_multiple_of_its_size(tmp_path):
    """One 8 MiB document on one line (prose the cleaner keeps), through a whole batch task:
    reading, cleaning, fingerprints, word counts, staged Parquet parts."""
    from bench.big_documents import make_input

    path = make_input("line", 8 << 20, tmp_path / "in")
    code = (
        "from datetime import datetime, timezone\n"
        "from news_etl.tasks.ingest.batch import process_files\n"
        "from news_etl.tasks.ingest.inputs import walk\n"
        "from news_etl.tasks.options import RunContext, RunOptions\n"
        f"options = RunOptions(inputs=[{str(path)!r}], warehouse={str(tmp_path / 'wh')!r}).resolved()\n"
        "result = process_files(list(walk(options.inputs)), options, RunContext('big', datetime.now(timezone.utc)), 1)\n"
        "out = {'documents': result.documents}"
    )
    warmup = (  # the cleaning stack (rules, language model) loaded on a small document first
        "from datetime import datetime, timezone\n"
        "from news_etl.tasks.ingest.batch import process_files\n"
        "from news_etl.tasks.ingest.inputs import walk\n"
        "from news_etl.tasks.options import RunContext, RunOptions\n"
        f"o = RunOptions(inputs=[{str(SEEDS)!r}], warehouse={str(tmp_path / 'wh')!r}).resolved()\n"
        "process_files(list(walk(o.inputs)), o, RunContext('warm', datetime.now(timezone.utc)), 0)\n"
    )
    got = _run_measured(_peak_growth(code), warmup)
    size = path.stat().st_size
    assert got["documents"] == 1
    assert got["growth"] < 16 * size, f"{got['growth'] / size:.1f} times the document"  # 10 times now; 60 before


def test_an_input_given_as_a_link_is_read_only_inside_its_own_directory(prefect_harness, tmp_path):
    """A file given by a link is read when the link's target lies in the link's directory, as a
    link found by the walk would be; a link to anywhere else (here a secret) is quarantined,
    neither read nor copied. A directory given by a link is followed."""
    inputs, outside = tmp_path / "in", tmp_path / "outside"
    inputs.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET-OUTSIDE-ROOT\n" * 20, encoding="utf-8")
    seeds = sorted(SEEDS.iterdir())
    shutil.copy(seeds[0], inputs / "today-2026.txt")
    (inputs / "today.txt").symlink_to("today-2026.txt")
    (inputs / "passwd.txt").symlink_to(outside / "secret.txt")
    shutil.copytree(SEEDS, outside / "feed")
    (tmp_path / "current").symlink_to(outside / "feed", target_is_directory=True)
    warehouse = tmp_path / "wh"
    summary = run_etl([inputs / "today.txt", inputs / "passwd.txt", tmp_path / "current"], warehouse, workers=1)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT source_uri, reason, copy_path FROM lake.quarantine").fetchall()
        documents = {os.path.basename(u) for (u,) in con.execute("SELECT source_uri FROM lake.documents").fetchall()}
    finally:
        con.close()
    assert rows == [(str(inputs / "passwd.txt"), "link_outside_root", None)]
    assert len(documents) == 5 and documents - {"today-2026.txt"} <= {p.name for p in seeds}  # one copy of seeds[0]
    assert summary.articles_out == 5 and summary.duplicates == 1  # today.txt is a copy of seeds[0]
    assert not list((warehouse / "quarantine").rglob("*.bin"))
    for path in warehouse.rglob("*"):
        if path.is_file():
            assert b"TOP-SECRET" not in path.read_bytes(), path
