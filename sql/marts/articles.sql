-- model: Unique articles: exact copies (same body_hash) collapsed into one row, the first copy seen.
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
with copies as (
    -- rank the copies on narrow columns only (a sort that spills to disk when it must), then
    -- fetch the wide ones (body, lists) for the first copy alone, joined on a compact key
    select
        lake_rowid,
        row_number() over copies as copy_no,
        count(*) over copies as n_copies,
        min(published_at) over copies as first_published_at,
        min(ingested_at) over copies as first_seen,
        max(ingested_at) over copies as last_seen
    from staging.stg_articles
    window copies as (partition by body_hash order by ingested_at, doc_id
                      rows between unbounded preceding and unbounded following)
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
    c.first_published_at as published_at,
    c.n_copies,
    c.first_seen,
    c.last_seen,
    a.ingest_date
from copies c
join staging.stg_articles a on a.lake_rowid = c.lake_rowid
where c.copy_no = 1
