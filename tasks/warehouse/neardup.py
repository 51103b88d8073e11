"""Near-duplicate clusters of the unique articles: MinHash LSH buckets, verified links, union-find.

Each article carries a one-permutation MinHash of its body's 5-word shingles (64 bins,
tasks/ingest/fingerprint.py). Articles are numbered by (first_seen, doc_id), so earlier articles
have smaller numbers. Each of an article's 16 bands of 4 bins (all non-empty) falls in a bucket
(a hash of the band's values); a bucket's *leader* is its earliest article. An article is linked
to the leader of each of its buckets when their similarity (the share of the bins non-empty in
either that hold the same value: an estimate of the Jaccard similarity of the shingle sets) is at
least 0.5; clusters are the connected components of these links, found by union-find, and a
cluster's representative is its earliest article. An article has at most 16 links, so time and
memory follow the number of articles: a story copied 5,000 times costs 5,000 articles' links,
never the 12.5 million pairs of its copies (as datatrove's MinHash deduplication does, but with
each link verified on the whole signature).

Incrementally, a run's new articles come after every earlier one (a run's first_seen is its start),
so existing buckets keep their leaders: the new articles are looked up in the buckets, linked,
and union-find runs on them and the clusters they reach (merging clusters an article bridges).
From scratch, the same steps run with every article new; the result is the same.
"""

from __future__ import annotations

import inspect
import sys

import duckdb
import numpy as np

from .model import CHANGED, Header, PythonModel, python_model

BANDS, ROWS = 16, 4
THRESHOLD = 0.5
LOOKUP_LIMIT = 100_000  # up to this many articles are fetched by number through the index, more by a join

DDL = [
    "CREATE SCHEMA IF NOT EXISTS dedup",
    """CREATE TABLE IF NOT EXISTS dedup.clusters (
        art_no INTEGER, doc_id VARCHAR, first_seen TIMESTAMPTZ, ingest_date DATE,
        cluster_no INTEGER, cluster_id VARCHAR, similarity DOUBLE, minhash UINTEGER[])""",
    # 32 bits of the band's hash: a bucket shared by chance only costs a verification that fails,
    # and the table the new articles' bands are looked up in is a third smaller
    "CREATE TABLE IF NOT EXISTS dedup.buckets (band_key UINTEGER, leader INTEGER)",
]
INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS clusters_art_no ON dedup.clusters (art_no)"

SIMILARITY = """CREATE OR REPLACE TEMP MACRO __similarity(a, b) AS
    list_count(list_filter(list_zip(a, b), p -> p[1] = p[2]))
    / nullif(list_count(list_filter(list_zip(a, b), p -> p[1] IS NOT NULL OR p[2] IS NOT NULL)), 0)"""

HEADER = Header(
    "Every unique article with a MinHash signature, numbered by (first_seen, doc_id), with its "
    "near-duplicate cluster; `dedup.buckets` maps each LSH bucket to its earliest article. "
    "Maintained by tasks/warehouse/neardup.py (see its docstring).",
    {
        "art_no": "the article's number: its rank by (first_seen, doc_id).",
        "doc_id": "the article (`marts.articles.doc_id`).",
        "first_seen": "when its first copy was ingested (UTC).",
        "ingest_date": "lake partition date of its first copy.",
        "cluster_no": "art_no of the cluster's representative (its earliest article); its own art_no if it has no near-copy.",
        "cluster_id": "doc_id of the cluster's representative.",
        "similarity": "estimated Jaccard similarity of its shingles and the representative's (1 for the representative).",
        "minhash": "its MinHash signature (64 bins, the low 32 bits of each; null = empty bin).",
    },
)


def components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union-find over the edges (a[i], b[i]): the nodes (sorted) and the smallest node of each
    one's component. Hooks each larger root under the smaller one and halves paths, vectorised:
    a few dozen numpy passes, memory linear in the edges."""
    nodes = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    parent = np.arange(len(nodes))
    while True:
        while True:  # compress: every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        ra, rb = parent[ia], parent[ib]
        differ = ra != rb
        if not differ.any():
            return nodes, nodes[parent]
        lo, hi = np.minimum(ra[differ], rb[differ]), np.maximum(ra[differ], rb[differ])
        np.minimum.at(parent, hi, lo)


def _lookup(con, art_nos, columns: str, table: str) -> None:
    """``table`` := ``columns`` of the given articles of dedup.clusters: through the art_no index (a
    literal IN list, which DuckDB turns into an index scan) when they are few."""
    art_nos = sorted({int(x) for x in art_nos})
    if not art_nos:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {columns} FROM dedup.clusters WHERE false")
    elif len(art_nos) <= LOOKUP_LIMIT:
        con.execute(f"SET index_scan_max_count = {max(2048, len(art_nos))}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {columns} FROM dedup.clusters "
                    f"WHERE art_no IN ({', '.join(map(str, art_nos))})")
        con.execute("RESET index_scan_max_count")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {columns} FROM dedup.clusters "
                    "SEMI JOIN (SELECT unnest($1::INTEGER[]) AS art_no) USING (art_no)", [art_nos])


def update_clusters(con, ctx) -> str:
    """Add the build's new unique articles to the clusters (all of them, from scratch, when
    ``ctx.full``); returns the table of the rows it added or changed (``changed.clusters``)."""
    full = ctx.full
    if full:
        con.execute("DROP TABLE IF EXISTS dedup.clusters")
        con.execute("DROP TABLE IF EXISTS dedup.buckets")
    for ddl in DDL:
        con.execute(ddl)
    con.execute(SIMILARITY)
    base = con.execute("SELECT coalesce(max(art_no), 0) FROM dedup.clusters").fetchone()[0]
    # New articles: the first copies of changed.articles among the rows this build loaded (a
    # first copy found in the new runs makes a new article). Numbered on narrow columns first.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __new AS
        SELECT ({base} + row_number() OVER (ORDER BY first_seen, doc_id))::INTEGER AS art_no, *
        FROM (SELECT s.lake_rowid, s.doc_id, s.ingested_at AS first_seen, s.ingest_date
              FROM {CHANGED}.stg_articles s SEMI JOIN {CHANGED}.articles USING (doc_id)
              WHERE s.minhash IS NOT NULL)""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __new_arts AS
        SELECT n.art_no, n.doc_id, n.first_seen, n.ingest_date,
               list_transform(s.minhash, x -> (x & 4294967295)::UINTEGER) AS minhash
        FROM __new n JOIN {CHANGED}.stg_articles s USING (lake_rowid)""")
    con.execute("DROP TABLE __new")
    # Bands -> buckets: an existing bucket keeps its leader, a new one is led by its earliest article.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __bands AS
        SELECT art_no, (hash(band, minhash[band * {ROWS} + 1 : band * {ROWS} + {ROWS}]) & 4294967295)::UINTEGER AS band_key
        FROM __new_arts, range({BANDS}) AS b(band)
        WHERE list_count(minhash[band * {ROWS} + 1 : band * {ROWS} + {ROWS}]) = {ROWS}""")
    con.execute("""CREATE OR REPLACE TEMP TABLE __banded AS
        SELECT n.art_no, n.band_key, b.leader IS NULL AS new_bucket,
               coalesce(b.leader, min(n.art_no) OVER (PARTITION BY n.band_key)) AS leader
        FROM __bands n LEFT JOIN dedup.buckets b USING (band_key)""")
    con.execute("DROP TABLE __bands")
    con.execute("INSERT INTO dedup.buckets SELECT DISTINCT band_key, leader FROM __banded WHERE new_bucket")
    con.execute("""CREATE OR REPLACE TEMP TABLE __links AS
        SELECT DISTINCT art_no, leader FROM __banded WHERE leader <> art_no""")
    con.execute("DROP TABLE __banded")
    # Verify each link on the whole signatures; a leader from an earlier build is fetched by number.
    old_leaders = [r[0] for r in con.execute(f"SELECT DISTINCT leader FROM __links WHERE leader <= {base}").fetchall()]
    _lookup(con, old_leaders, "art_no, cluster_no, minhash", "__old_leaders")
    con.execute("""CREATE OR REPLACE TEMP TABLE __edges AS
        SELECT l.art_no, coalesce(o.cluster_no, l.leader) AS target
        FROM __links l
        JOIN __new_arts a ON a.art_no = l.art_no
        LEFT JOIN __new_arts nb ON nb.art_no = l.leader
        LEFT JOIN __old_leaders o ON o.art_no = l.leader
        WHERE __similarity(a.minhash, coalesce(nb.minhash, o.minhash)) >= $1""", [THRESHOLD])
    con.execute("DROP TABLE __links")
    edges = con.execute("SELECT art_no, target FROM __edges").fetchnumpy()
    con.execute("DROP TABLE __edges")
    # Union-find over the new articles and the clusters they reach (an old cluster is its representative).
    nodes, roots = components(edges["art_no"].astype(np.int64), edges["target"].astype(np.int64))
    moved = {int(n): int(r) for n, r in zip(nodes, roots) if n != r}
    con.execute("CREATE OR REPLACE TEMP TABLE __roots AS SELECT unnest($1::INTEGER[]) AS node, unnest($2::INTEGER[]) AS root",
                [list(moved), list(moved.values())])
    merged = [n for n in moved if n <= base]  # old clusters joining an earlier one: their members move
    members = []
    if merged:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE __merged AS
            SELECT art_no, cluster_no AS old_cluster, minhash FROM dedup.clusters
            WHERE cluster_no IN ({', '.join(map(str, merged))})""")
        members = [r[0] for r in con.execute("SELECT art_no FROM __merged").fetchall()]
    reps = {r for r in moved.values() if r <= base}
    _lookup(con, reps, "art_no, doc_id, minhash", "__old_reps")
    # Each new or moved article's representative, and its similarity to it.
    con.execute("""CREATE OR REPLACE TEMP TABLE __assigned AS
        SELECT a.art_no, a.doc_id, a.first_seen, a.ingest_date, coalesce(r.root, a.art_no) AS cluster_no, a.minhash
        FROM __new_arts a LEFT JOIN __roots r ON r.node = a.art_no""")
    con.execute("DROP TABLE __new_arts")
    rep_sigs = """(SELECT art_no, doc_id, minhash FROM __assigned WHERE art_no = cluster_no
                   UNION ALL SELECT art_no, doc_id, minhash FROM __old_reps)"""
    con.execute(f"""INSERT INTO dedup.clusters
        SELECT a.art_no, a.doc_id, a.first_seen, a.ingest_date, a.cluster_no, r.doc_id,
               CASE WHEN a.art_no = a.cluster_no THEN 1.0 ELSE round(__similarity(a.minhash, r.minhash), 4) END,
               a.minhash
        FROM __assigned a JOIN {rep_sigs} r ON r.art_no = a.cluster_no""")
    if merged:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE __moved AS
            SELECT m.art_no, t.root AS cluster_no, r.doc_id AS cluster_id,
                   CASE WHEN m.art_no = t.root THEN 1.0 ELSE round(__similarity(m.minhash, r.minhash), 4) END AS similarity
            FROM __merged m JOIN __roots t ON t.node = m.old_cluster JOIN {rep_sigs} r ON r.art_no = t.root""")
        con.execute("""UPDATE dedup.clusters AS c SET cluster_no = m.cluster_no, cluster_id = m.cluster_id,
                       similarity = m.similarity FROM __moved m WHERE c.art_no = m.art_no""")
    if full:
        con.execute(INDEX)
    # changed.clusters: the rows added (numbered after base) and those moved to another cluster
    changed = ctx.temp_table("__changed_clusters", f"SELECT * FROM dedup.clusters WHERE art_no > {base}")
    if members:
        _lookup(con, members, "*", "__moved_rows")
        con.execute(f"INSERT INTO {changed} SELECT * FROM __moved_rows")
    for table in ("__assigned", "__roots", "__old_leaders", "__old_reps", "__merged", "__moved", "__moved_rows"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return changed


@python_model("dedup.clusters")
def clusters_model() -> PythonModel:
    return PythonModel("dedup", "clusters", ("marts.articles", "staging.stg_articles"), HEADER, update_clusters,
                       # a new DuckDB may hash the bands differently: rebuild the buckets then
                       inspect.getsource(sys.modules[__name__]) + duckdb.__version__)
