"""SQL models: dependency order, errors naming files, data tests, marts on the seeds, search, docs.

Runner tests call the pure functions on a temporary DuckDB holding a copy of the seeds lake
(no extra flow runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from news_etl.tasks.ingest.fingerprint import minhash
from news_etl.tasks.ingest.lake import LAKE_TABLES
from news_etl.tasks.layout import WarehouseLayout
from news_etl.tasks.warehouse.load import ensure_tables
from news_etl.tasks.warehouse.model import DataTestFailure, ModelError, build_on, discover_models, parse_header, render_docs
from tests.conftest import REPO

SQL = REPO / "sql"
CREDITED = {"Interfax", "Reuters", "KCNA", "Euro News", "Euractiv"}


@pytest.fixture
def lake_con(seeds_warehouse, tmp_path):
    """A fresh warehouse in tmp_path holding a copy of the seeds lake (tables and files),
    meta.runs and meta.lake_files, no models yet."""
    shutil.copytree(seeds_warehouse / "lake", tmp_path / "lake")
    con = duckdb.connect(str(tmp_path / "news.duckdb"))
    ensure_tables(con)
    con.execute(f"ATTACH '{seeds_warehouse / 'news.duckdb'}' AS seeds (READ_ONLY)")
    for table in LAKE_TABLES:
        con.execute(f"INSERT INTO lake.{table} BY NAME SELECT * FROM seeds.lake.{table}")
    con.execute("INSERT INTO meta.runs BY NAME SELECT * FROM seeds.meta.runs")
    con.execute("INSERT INTO meta.lake_files BY NAME SELECT * FROM seeds.meta.lake_files")
    con.execute("DETACH seeds")
    yield con
    con.close()


@pytest.fixture
def sql_copy(tmp_path) -> Path:
    return Path(shutil.copytree(SQL, tmp_path / "sql"))


def _doc_id_of_seed(con, prefix: str) -> str:
    return con.execute("SELECT doc_id FROM lake.documents WHERE source_uri LIKE ?", [f"%/{prefix}_%"]).fetchone()[0]


def _copy_article(con, doc_id: str, new_id: str, body: str | None = None) -> None:
    """Load another document + article with the body of ``doc_id`` (or ``body``)."""
    con.execute(
        "INSERT INTO lake.documents BY NAME SELECT * REPLACE (? AS doc_id, source_uri || '.copy' AS source_uri) "
        "FROM lake.documents WHERE doc_id = ?", [new_id, doc_id])
    con.execute(
        "INSERT INTO lake.articles BY NAME SELECT * REPLACE (? AS doc_id, coalesce(?, body) AS body, "
        "sha256(coalesce(?, body)) AS body_hash, coalesce(?, minhash) AS minhash, "
        "ingested_at + INTERVAL 1 HOUR AS ingested_at) FROM lake.articles WHERE doc_id = ?",
        [new_id, body, body, None if body is None else minhash(body), doc_id])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- runner -----------------------------------------------------------------------------------

def test_new_mart_reading_another_mart_builds_in_order_without_code_change(lake_con, sql_copy):
    # "a_…" sorts before the marts it reads: only the dependency order can put it last.
    _write(sql_copy / "marts" / "a_source_share.sql", """
        -- model: share of unique articles crediting each source.
        -- column source: the source.
        -- column share: articles crediting it / all articles.
        select s.source, s.articles / (select count(*) from marts.articles) as share
        from marts.sources s
    """)
    order = [m.qualified for m in discover_models(sql_copy)]
    assert order.index("marts.a_source_share") > order.index("marts.sources") > order.index("marts.articles")
    build_on(lake_con, sql_copy, stemmer=None)
    shares = dict(lake_con.sql("select source, share from marts.a_source_share").fetchall())
    assert set(shares) == CREDITED and all(v == pytest.approx(0.2) for v in shares.values())


def test_cycle_is_an_error_naming_the_files(tmp_path):
    _write(tmp_path / "marts" / "a.sql", "select * from marts.b")
    _write(tmp_path / "marts" / "b.sql", "select * from marts.c")
    _write(tmp_path / "marts" / "c.sql", "select * from marts.a")
    with pytest.raises(ModelError, match="cycle") as err:
        discover_models(tmp_path)
    for name in ("a", "b", "c"):
        assert str(tmp_path / "marts" / f"{name}.sql") in str(err.value)


@pytest.mark.parametrize("ref", ["marts.nope", "staging.nope"])
def test_reference_to_missing_model_names_the_file(tmp_path, ref):
    _write(tmp_path / "staging" / "stg_x.sql", "select 1 as x")
    bad = _write(tmp_path / "marts" / "reads_nope.sql", f"select * from staging.stg_x join {ref} using (x)")
    with pytest.raises(ModelError) as err:
        discover_models(tmp_path)
    assert str(bad) in str(err.value) and ref in str(err.value)


def test_model_must_be_one_select(tmp_path):
    bad = _write(tmp_path / "marts" / "two.sql", "select 1; delete from lake.documents")
    with pytest.raises(ModelError, match="one SELECT") as err:
        discover_models(tmp_path)
    assert str(bad) in str(err.value)


def test_select_builds_subset_and_only_missing_dependencies(lake_con):
    lake_con.execute(
        "UPDATE meta.runs SET ended_at = started_at + INTERVAL 12 SECOND, status = 'completed', "
        "step_seconds = MAP {'discover': 0.5, 'process': 8.0, 'load': 1.5, 'model': 1.0, 'export': 0.25}")
    built = build_on(lake_con, SQL, select=["runs"]).models
    assert built == ["staging.stg_runs", "marts.runs"]
    assert lake_con.sql("select count(*) from information_schema.tables where table_schema = 'marts'").fetchone()[0] == 1
    row = lake_con.sql("select status, documents_in, seconds_total, seconds_discover, seconds_process, seconds_load, "
                       "seconds_model, seconds_export from marts.runs").fetchone()
    assert row == ("completed", 5, 12.0, 0.5, 8.0, 1.5, 1.0, 0.25)
    built = build_on(lake_con, SQL, select=["marts.runs"]).models
    assert built == ["marts.runs"]


# --- data tests ----------------------------------------------------------------------------------

def test_failing_data_test_fails_the_build_with_a_readable_message(lake_con, sql_copy):
    _write(sql_copy / "tests" / "nobody_quotes_interfax.sql", """
        -- test: no article credits Interfax.
        select doc_id, credits from marts.articles where list_contains(credits, 'Interfax')
    """)
    with pytest.raises(DataTestFailure) as err:
        build_on(lake_con, sql_copy)
    message = str(err.value)
    first_line = message.splitlines()[0]
    assert first_line == "data test nobody_quotes_interfax failed (no article credits Interfax.): 1 offending row:"
    doc_id = _doc_id_of_seed(lake_con, "002")
    assert f"doc_id={doc_id}, credits=['KCNA', 'Interfax', 'Reuters']" in message
    # all or nothing: the failed build left no model behind
    assert lake_con.sql("select count(*) from information_schema.tables where table_schema in ('marts', 'staging')").fetchone()[0] == 0


def test_failing_data_test_fails_the_flow_run(prefect_harness, lake_con, sql_copy, tmp_path):
    from prefect import flow

    from news_etl.tasks.warehouse.model import model_task

    _write(sql_copy / "tests" / "no_reuters.sql", "-- test: nobody credits Reuters.\n"
           "select doc_id from marts.articles where list_contains(credits, 'Reuters')")
    lake_con.close()  # the task opens the warehouse itself

    @flow
    def build_models_flow():
        return model_task(WarehouseLayout(tmp_path), sql_dir=sql_copy)

    state = build_models_flow(return_state=True)
    assert state.is_failed()
    with pytest.raises(DataTestFailure, match=r"^data test no_reuters failed \(nobody credits Reuters.\): 1 offending row"):
        state.result()


def test_a_data_test_that_cannot_run_fails_the_build_with_its_own_error(tmp_path):
    """Its error aborts the build's transaction: the build fails naming that test and that error
    (not "Current transaction is aborted" from whatever ran next), and nothing of it is kept."""
    _write(tmp_path / "marts" / "y.sql", "-- model: y.\n-- column a: a.\nselect 'x' as a")
    _write(tmp_path / "tests" / "a_cast.sql", "-- test: a is a number.\nselect a from marts.y where cast(a as integer) < 0")
    _write(tmp_path / "tests" / "b_later.sql", "-- test: runs after.\nselect a from marts.y where false")
    con = duckdb.connect()
    with pytest.raises(DataTestFailure, match=r"^data test a_cast \(.*a_cast.sql\) could not run: Conversion Error"):
        build_on(con, tmp_path, stemmer=None)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'").fetchone()[0] == 0


@pytest.mark.parametrize("corrupt, failing", [
    ("UPDATE lake.articles SET body = '  ' WHERE doc_id = $doc", ["articles_have_body"]),
    ("DELETE FROM lake.documents WHERE doc_id = $doc", ["relationships_articles_doc_id", "relationships_stg_articles_doc_id"]),
    ("INSERT INTO lake.boilerplate (doc_id, line_no, text, rule) VALUES ($doc, 1, 'x', NULL)", ["not_null_boilerplate_rules_rule"]),
    ("INSERT INTO lake.articles BY NAME SELECT * REPLACE ('copy' AS doc_id, sha256('x') AS body_hash) FROM lake.articles "
     "WHERE doc_id = $doc", ["relationships_articles_doc_id", "relationships_stg_articles_doc_id"]),
    ("UPDATE lake.articles SET body_hash = NULL WHERE doc_id = $doc", ["not_null_articles_body_hash"]),
    ("INSERT INTO lake.articles BY NAME SELECT * REPLACE (sha256('x') AS body_hash) FROM lake.articles WHERE doc_id = $doc",
     ["unique_articles_doc_id", "unique_near_duplicates_doc_id"]),
])
def test_built_in_data_tests_catch_bad_data(lake_con, corrupt, failing):
    lake_con.execute(corrupt.replace("$doc", "?"), [_doc_id_of_seed(lake_con, "001")])
    with pytest.raises(DataTestFailure) as err:
        build_on(lake_con, SQL, stemmer=None)
    failed = re.findall(r"^data test (\w+) failed", str(err.value), flags=re.M)
    assert failed == failing


def test_a_content_heuristic_warns_and_the_build_goes_on(lake_con):
    """A quoted boilerplate phrase is a finding of the warn test articles_no_boilerplate, with its
    first rows, kept in meta.test_results; the marts are built."""
    doc = _doc_id_of_seed(lake_con, "001")
    lake_con.execute("UPDATE lake.articles SET body = body || '\n\n[Anzeige_7]' WHERE doc_id = ?", [doc])
    result = build_on(lake_con, SQL, stemmer=None, run_id="run-x")
    assert [w.test.name for w in result.warnings] == ["articles_no_boilerplate"]
    assert result.warnings[0].n_rows == 1 and "field=body, context=[Anzeige_7]" in result.warnings[0].first_rows[0]
    assert result.warnings[0].message().startswith("data test articles_no_boilerplate warns (")
    assert lake_con.execute("SELECT count(*) FROM marts.articles").fetchone()[0] == 5
    assert lake_con.execute("SELECT run_id, test, severity, n_rows FROM meta.test_results").fetchall() == [
        ("run-x", "articles_no_boilerplate", "warn", 1)]


# --- marts on the seeds --------------------------------------------------------------------------

def test_every_model_and_column_is_documented(seeds_db):
    for m in discover_models(SQL):
        columns = [r[0] for r in seeds_db.execute(f"DESCRIBE {m.qualified}").fetchall()]
        assert m.header.description, m.path
        assert list(m.header.columns) == columns, m.path
        assert all(m.header.columns.values()), m.path
    for path in (SQL / "tests").glob("*.sql"):
        assert parse_header(path.read_text()).description, path


def test_generic_tests_are_declared_in_the_headers_and_generated(tmp_path):
    _write(tmp_path / "staging" / "stg_x.sql", "-- model: x.\n-- column a: a.\nselect 1 as a")
    _write(tmp_path / "marts" / "y.sql", """
        -- model: y.
        -- column a: key.
        -- column b: other.
        -- test unique: a, b
        -- test not_null: a
        -- test relationships: a -> staging.stg_x.a
        select * from (values (1, 'p'), (1, 'p'), (2, null), (null, 'q')) t(a, b)
    """)
    models = discover_models(tmp_path)
    y = next(m for m in models if m.name == "y")
    assert [(t.kind, t.arguments, t.severity) for t in y.header.tests] == [
        ("unique", "a, b", "error"), ("not_null", "a", "error"), ("relationships", "a -> staging.stg_x.a", "error")]
    assert y.header.description == "y." and list(y.header.columns) == ["a", "b"]
    con = duckdb.connect()
    with pytest.raises(DataTestFailure) as err:
        build_on(con, tmp_path, stemmer=None)
    message = str(err.value)
    assert re.findall(r"^data test (\w+) failed", message, flags=re.M) == ["not_null_y_a", "relationships_y_a", "unique_y_a_b"]
    assert "unique_y_a_b failed (marts.y has one row per (a, b).): 1 offending row:\n    a=1, b=p, n_rows=2" in message
    assert "relationships_y_a failed (every a of marts.y is in staging.stg_x.a.): 1 offending row:\n    a=2" in message


@pytest.mark.parametrize("declaration, message", [
    ("-- test unique: a b", "cannot read the columns of test 'a b'"),
    ("-- test relationships: a = staging.x.a", "cannot read test relationships"),
    ("-- test accepted_values: a", "unknown test 'accepted_values'"),
])
def test_a_bad_test_declaration_names_the_file(tmp_path, declaration, message):
    bad = _write(tmp_path / "marts" / "y.sql", f"-- model: y.\n{declaration}\nselect 1 as a")
    with pytest.raises(ModelError, match=re.escape(message)) as err:
        build_on(duckdb.connect(), tmp_path, stemmer=None)
    assert str(bad) in str(err.value)


def test_docs_models_md_is_up_to_date():
    assert (REPO / "docs" / "models.md").read_text(encoding="utf-8") == render_docs(SQL), (
        "docs/models.md is stale: run `news-etl models --docs docs/models.md`")


def test_sources_name_the_credited_agencies(seeds_db):
    sources = dict(seeds_db.sql("select source, articles from marts.sources").fetchall())
    assert sources == {name: 1 for name in CREDITED}


def test_sources_merge_spelling_variants_and_byline_credits(lake_con):
    doc = _doc_id_of_seed(lake_con, "000")  # credits Euro News
    lake_con.execute("UPDATE lake.articles SET credits = ['EuroNews'], byline = 'Anna Muster, dpa/AFP' WHERE doc_id = ?",
                     [_doc_id_of_seed(lake_con, "001")])
    lake_con.execute("UPDATE lake.articles SET byline = 'Max Muster (Laut euro-news)' WHERE doc_id = ?", [doc])
    build_on(lake_con, SQL, stemmer=None)
    rows = {r[0]: r[1:] for r in lake_con.sql("select source, articles, spellings from marts.sources").fetchall()}
    assert rows["Euro News"] == (2, ["Euro News", "EuroNews", "euro-news"])
    assert rows["dpa"][0] == rows["AFP"][0] == 1
    assert not any("Muster" in s for s in rows)


def test_exact_and_near_copies(lake_con):
    original = _doc_id_of_seed(lake_con, "002")
    body = lake_con.execute("SELECT body FROM lake.articles WHERE doc_id = ?", [original]).fetchone()[0]
    paragraphs = body.split("\n\n")
    # a syndicated copy: last paragraph dropped, a sentence reworded, an agency line added
    near = "\n\n".join(paragraphs[:-1]).replace("Kremlsprecher Dmitri Peskow", "der Sprecher des Kreml, Peskow,")
    near += "\n\nMit Material von AFP."
    assert near != body
    _copy_article(lake_con, original, "near-copy", near)
    _copy_article(lake_con, original, "exact-copy")
    build_on(lake_con, SQL)

    n_copies, first_doc = lake_con.execute(
        "SELECT n_copies, doc_id FROM marts.articles WHERE body_hash = sha256(?)", [body]).fetchone()
    assert (n_copies, first_doc) == (2, original)
    assert lake_con.sql("select count(*) from marts.articles").fetchone()[0] == 6
    members = lake_con.sql("select doc_id, cluster_id, cluster_size, similarity from marts.near_duplicates order by doc_id").fetchall()
    assert {m[0] for m in members} == {original, "near-copy"}
    by_doc = {m[0]: m[1:] for m in members}
    assert by_doc[original] == (original, 2, 1.0)  # the earlier article represents the cluster
    cluster_id, size, similarity = by_doc["near-copy"]
    assert cluster_id == original and size == 2 and 0.5 <= similarity < 1
    pairs = lake_con.sql("select doc_id_a, doc_id_b, cluster_id, similarity from marts.near_duplicate_pairs").fetchall()
    assert pairs == [(min(original, "near-copy"), max(original, "near-copy"), original, similarity)]


def test_daily_articles_and_boilerplate_rules_on_the_seeds(seeds_db):
    assert seeds_db.sql("select articles, words, languages from marts.daily_articles").fetchall() == [
        (5, seeds_db.sql("select sum(n_words) from marts.articles").fetchone()[0], ["de"])]
    shares = seeds_db.sql("select sum(share_of_lines), sum(documents_affected) > 0 from marts.boilerplate_rules").fetchone()
    assert shares[0] == pytest.approx(1.0, abs=1e-3) and shares[1]


def test_every_mart_is_exported_with_its_columns(seeds_warehouse, seeds_db):
    layout = WarehouseLayout(seeds_warehouse)
    marts = [m for m in discover_models(SQL) if m.schema == "marts" and m.materialized != "view"]
    for m in marts:
        if m.partition_by:  # a Hive-partitioned dataset; the partition column comes last, from the path
            partitioning = ds.partitioning(pa.schema([(m.partition_by, pa.date32())]), flavor="hive")
            table = ds.dataset(layout.mart_dataset(m.name), partitioning=partitioning).to_table()
        else:
            table = pq.read_table(layout.mart_file(m.name))
        assert table.column_names == list(m.header.columns), m.name
        assert table.num_rows == seeds_db.execute(f"select count(*) from {m.qualified}").fetchone()[0]


# --- search and CLI ------------------------------------------------------------------------------

def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "news_etl.flows.cli", *args], capture_output=True, text=True, cwd=REPO)


def test_search_peskow_finds_the_articles_quoting_him(seeds_warehouse, seeds_db):
    res = _cli("search", "Peskow", "--warehouse", str(seeds_warehouse))
    assert res.returncode == 0, res.stderr
    expected = {r[0][:16] for r in seeds_db.sql(
        "select doc_id from lake.documents where regexp_matches(source_uri, '/00[024]_')").fetchall()}
    lines = res.stdout.splitlines()
    found = {line.split()[1] for line in lines[::2]}
    assert found == expected
    assert all("«Peskow»" in line for line in lines[1::2])


def test_search_stems_german_words(seeds_warehouse):
    from news_etl.tasks.warehouse.catalog import open_reader
    from news_etl.tasks.warehouse.search import search

    with open_reader(WarehouseLayout(seeds_warehouse)) as con:
        # "Beziehung" finds "Beziehungen" (seed 004's title) through the German stemmer
        hits = search(con, "Beziehung", limit=5)
        assert hits and any("Beziehungen" in (h.title or "") for h in hits)
        assert not search(con, "Quantenchromodynamik")


def test_stg_articles_paragraphs_are_the_cleaners_paragraphs(seeds_db):
    from news_etl.tasks.cleaning.ruleset import load_rules
    from news_etl.tasks.cleaning.clean import clean

    rows = seeds_db.execute("""SELECT d.raw_text, a.paragraphs, a.n_paragraphs FROM staging.stg_articles a
                               JOIN staging.stg_documents d USING (doc_id)""").fetchall()
    assert len(rows) == 5
    for raw, paragraphs, n in rows:
        assert len(paragraphs) == n
        assert paragraphs == clean(raw, load_rules()).paragraphs


def test_word_counts_lowercases_and_counts_words_of_title_and_body():
    from news_etl.tasks.ingest.words import word_counts

    words, counts = word_counts("Peskow: Kreml", "Der Kreml (Moskau) sagt, Peskow_2 sagt 2024.")
    assert dict(zip(words, counts)) == {"peskow": 2, "kreml": 2, "der": 1, "moskau": 1, "sagt": 2, "2": 1, "2024": 1}
    assert word_counts(None, "") == ([], [])


def test_minhashes_of_a_chunk_equal_minhash_text_by_text():
    from news_etl.tasks.ingest.fingerprint import minhashes

    texts = ["", "eins zwei drei vier", "eins zwei drei vier fünf", "Ünïcödé wörter hier und da und dort",
             " ".join(f"wort{i}" for i in range(300))] * 2
    single = [minhash(t) for t in texts]
    assert single[0] is None and single[1] is None and single[2] is not None
    assert sum(v is not None for v in single[4]) > 50
    for chunk_bytes in (1, 30, 1 << 20):
        assert minhashes(texts, chunk_bytes=chunk_bytes).to_pylist() == single
    assert minhashes([]).to_pylist() == []


def test_many_word_counts_equals_word_counts_text_by_text():
    from news_etl.tasks.ingest.words import many_word_counts, word_counts

    texts = ["", "Peskow: Kreml", "Straße STRASSE İstanbul ǅemal ﬁx 𝔘𝔫𝔦 ½ ² a_b", "a a a", "", "\ud800 x y",
             "Der Kreml (Moskau) sagt, Peskow_2 sagt 2024.\n\nZweiter Absatz – „Zitat“ «Kreml»."] * 3
    for chunk_chars in (8, 40, 1 << 18):
        words, counts = (column.to_pylist() for column in many_word_counts(texts, chunk_chars=chunk_chars))
        assert [dict(zip(w, c)) for w, c in zip(words, counts)] == [dict(zip(*word_counts(t))) for t in texts]
        assert all(len(w) == len(set(w)) for w in words)
    assert [column.to_pylist() for column in many_word_counts(["", " ,"])] == [[[], []], [[], []]]
    assert [column.to_pylist() for column in many_word_counts([])] == [[], []]


def test_the_word_character_table_is_str_isalnum():
    from news_etl.tasks.ingest.words import _alnum_table

    table = _alnum_table()
    assert len(table) == 0x110000
    assert table.tolist() == [chr(c).isalnum() for c in range(0x110000)]


def _search(con, query: str) -> list[tuple[str, float]]:
    return con.execute("SELECT doc_id, score FROM search.match(?) ORDER BY score DESC, doc_id", [query]).fetchall()


def _index_words(con, warehouse: Path, doc_id: str, title: str, body: str) -> None:
    """Write the lake file the index reads an article's words from, as a run would."""
    from news_etl.tasks.ingest.words import word_counts

    run_id = con.execute("SELECT run_id FROM lake.articles WHERE doc_id = ?", [doc_id]).fetchone()[0]
    words, counts = word_counts(title, body)
    rel = f"lake/articles/ingest_date=2026-01-01/part-{doc_id}-{run_id}.parquet"
    (warehouse / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"doc_id": [doc_id], "run_id": [run_id], "words": [words], "word_counts": [counts]}),
                   warehouse / rel)
    con.execute("INSERT INTO meta.lake_files VALUES (?, 'articles', '', ?, 1)", [run_id, rel])


def test_search_index_is_updated_incrementally_and_ranks_by_bm25(lake_con, tmp_path):
    """A second build indexes only the new article; exact copies are not hits twice; more
    occurrences of a rare word rank higher; a rebuilt article replaces its index rows."""
    from news_etl.tasks.warehouse.search import update_index

    build_on(lake_con, SQL, layout=WarehouseLayout(tmp_path))
    n_postings = lake_con.execute("SELECT count(*) FROM search.postings").fetchone()[0]
    assert lake_con.execute("SELECT count(*) FROM search.documents").fetchone()[0] == 5
    peskow = {r[0] for r in _search(lake_con, "Peskow")}
    assert len(peskow) == 3

    seed = _doc_id_of_seed(lake_con, "000")
    body = "Peskow Peskow Peskow. Der Kremlsprecher Peskow sagte nichts."
    _copy_article(lake_con, seed, "new-article", body)
    lake_con.execute("UPDATE lake.articles SET run_id = 'run-2', title = 'Titel' WHERE doc_id = 'new-article'")
    _index_words(lake_con, tmp_path, "new-article", "Titel", body)
    _copy_article(lake_con, seed, "exact-copy")  # same body as seed 000: not a unique article
    lake_con.execute("UPDATE lake.articles SET run_id = 'run-2' WHERE doc_id = 'exact-copy'")
    _index_words(lake_con, tmp_path, "exact-copy", "x", "Peskow")
    build_on(lake_con, SQL, layout=WarehouseLayout(tmp_path))
    assert lake_con.execute("SELECT count(*) FROM search.postings").fetchone()[0] > n_postings
    ranked = _search(lake_con, "peskow")
    assert ranked[0][0] == "new-article"
    assert {d for d, _ in ranked} == peskow | {"new-article"}

    # a rebuild gives the article another run_id: its old index rows go, the new ones come
    lake_con.execute("UPDATE lake.articles SET run_id = 'rebuild' WHERE doc_id = 'new-article'")
    _index_words(lake_con, tmp_path, "new-article", "Titel", "Quark")
    lake_con.execute("BEGIN")
    assert update_index(lake_con, WarehouseLayout(tmp_path)) == {"added": 1, "dropped": 1}
    assert update_index(lake_con, WarehouseLayout(tmp_path)) == {"added": 0, "dropped": 0}
    lake_con.execute("COMMIT")
    assert "new-article" not in {d for d, _ in _search(lake_con, "peskow")}
    assert _search(lake_con, "Quark")[0][0] == "new-article"
    assert lake_con.execute("SELECT count(*) FROM search.documents").fetchone()[0] == 7
    assert lake_con.execute("SELECT count(*) - count(DISTINCT docno) FROM search.documents").fetchone()[0] == 0
    assert lake_con.execute("SELECT count(*) FROM search.postings ANTI JOIN search.documents USING (docno)").fetchone()[0] == 0
    assert lake_con.execute("SELECT count(*) - count(DISTINCT (docno, word_id)) FROM search.postings").fetchone()[0] == 0
    assert lake_con.execute("SELECT count(*) - count(DISTINCT word) FROM search.words").fetchone()[0] == 0


def test_search_index_follows_a_new_stemmer(lake_con, tmp_path):
    from news_etl.tasks.warehouse.search import update_index

    build_on(lake_con, SQL, layout=WarehouseLayout(tmp_path))
    lake_con.execute("BEGIN")
    assert update_index(lake_con, WarehouseLayout(tmp_path), "english") == {"added": 0, "dropped": 0}
    lake_con.execute("COMMIT")
    assert lake_con.execute("SELECT list(DISTINCT stemmer) FROM search.words").fetchone()[0] == ["english"]
    assert lake_con.execute("SELECT term FROM search.words WHERE word = 'beziehungen'").fetchone()[0] == "beziehungen"
    with pytest.raises(ValueError):
        update_index(lake_con, WarehouseLayout(tmp_path), "german'; DROP TABLE x; --")


def test_lake_files_keep_the_words_duckdb_leaves_out(seeds_warehouse, seeds_db):
    files = list((seeds_warehouse / "lake" / "articles").rglob("*.parquet"))
    table = pa.concat_tables(pq.read_table(f) for f in files)
    assert {"words", "word_counts"} <= set(table.column_names)
    assert all(len(w) == len(c) > 0 for w, c in zip(table["words"].to_pylist(), table["word_counts"].to_pylist()))
    columns = {r[0] for r in seeds_db.execute("DESCRIBE lake.articles").fetchall()}
    assert not {"words", "word_counts"} & columns


def test_sql_command_can_call_the_search_macro(seeds_warehouse):
    res = _cli("sql", "--warehouse", str(seeds_warehouse), "SELECT count(*) AS n FROM search.match('Peskow')")
    assert res.returncode == 0, res.stderr
    assert re.search(r"\b3\b", res.stdout)


def test_cli_models_lists_models_with_rows_and_dependencies(seeds_warehouse):
    res = _cli("models", "--warehouse", str(seeds_warehouse))
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines()[1:]}
    assert rows["marts.articles"] == ["incremental", "5", "staging.stg_articles"]
    assert rows["staging.stg_documents"] == ["view", "-", "-"]  # the writer's views: readers query lake.* in the catalog
    assert rows["marts.near_duplicates"] == ["incremental", "0", "dedup.clusters"]
    assert rows["dedup.clusters"] == ["python", "-", "marts.articles,", "staging.stg_articles"]


def test_mart_column_types_do_not_depend_on_the_data(tmp_path, seeds_db):
    """BI tools need stable types: an empty warehouse gives the marts the seeds' column types."""
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    ensure_tables(con)
    build_on(con, SQL)
    for m in discover_models(SQL):
        if m.schema == "marts":
            assert con.execute(f"DESCRIBE {m.qualified}").fetchall() == seeds_db.execute(f"DESCRIBE {m.qualified}").fetchall()
    con.close()
