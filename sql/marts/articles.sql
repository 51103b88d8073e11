-- model: Unique articles: exact copies (same body_hash) collapsed into one row, the first copy seen.
--   A run adds the bodies it loaded first copies of and, for a body already here, counts its new
--   copies: the first copy seen stays the row (no later run can bring an earlier copy), only its
--   counts and dates are updated.
-- materialized: incremental
-- unique_key: body_hash
-- incremental_strategy: merge
-- merge_update_columns: published_at, n_copies, last_seen
-- partition_by: ingest_date
-- file_by: first_seen
-- column doc_id: document of the first copy seen (earliest ingested_at, then smallest doc_id); primary key.
-- column source_uri: input file of the first copy (with `#L<n>` for the record on line n of a JSONL file).
-- column source_name: input root of the first copy.
-- column url: original URL of the first copy, when known.
-- column site_name: the publication's name as the first copy's HTML states it, when known.
-- column title: headline.
-- column subtitle: sub-headline / teaser, when found.
-- column byline: author(s), without agency credits.
-- column credits: agencies and outlets credited in the text.
-- column captions: photo captions moved out of the body.
-- column tags: tags / section labels found in the text.
-- column body: cleaned body text (paragraphs joined by blank lines).
-- column language: ISO 639-1 language code of the body.
-- column n_words: words in the body.
-- column n_paragraphs: paragraphs in the body.
-- column n_boilerplate_lines: lines the cleaner removed from the first copy.
-- column body_hash: SHA-256 of the body; unique.
-- column published_at: earliest publication time (UTC) any copy carries.
-- column n_copies: documents with this exact body.
-- column first_seen: when the first copy was ingested (UTC).
-- column last_seen: when the latest copy was ingested (UTC).
-- column ingest_date: lake partition date of the first copy.
-- test unique: doc_id
-- test not_null: doc_id
-- test unique: body_hash
-- test not_null: body_hash
-- test relationships: doc_id -> staging.stg_documents.doc_id
with touched as (
    -- the bodies of the copies this build loaded (every body in a full build)
    select distinct body_hash from changed.stg_articles
),
all_copies as (
    -- every copy of those bodies, on narrow columns only
    select body_hash, count(*) as n_copies, min(published_at) as published_at,
           min(ingested_at) as first_seen, max(ingested_at) as last_seen
    from staging.stg_articles s
    semi join touched t on s.body_hash is not distinct from t.body_hash
    group by body_hash
),
first_new as (
    -- the first of the copies this build loaded, ranked on narrow columns; its wide ones are
    -- fetched for it alone, joined on a compact key
    select lake_rowid, row_number() over (partition by body_hash order by ingested_at, doc_id) as copy_no
    from changed.stg_articles
)
select
    a.doc_id,
    a.source_uri,
    a.source_name,
    a.url,
    a.site_name,
    a.title,
    a.subtitle,
    a.byline,
    a.credits,
    a.captions,
    a.tags,
    a.body,
    a.language,
    a.n_words,
    a.n_paragraphs,
    a.n_boilerplate_lines,
    a.body_hash,
    c.published_at,
    c.n_copies,
    c.first_seen,
    c.last_seen,
    a.ingest_date
from first_new f
join changed.stg_articles a on a.lake_rowid = f.lake_rowid
join all_copies c on c.body_hash is not distinct from a.body_hash
where f.copy_no = 1
