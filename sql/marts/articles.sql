-- model: Unique articles: exact copies (same body_hash) collapsed into one row, the first copy seen.
-- column doc_id: document of the first copy seen (earliest ingested_at, then smallest doc_id); primary key.
-- column source_name: input root of the first copy.
-- column url: original URL of the first copy, when known.
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
with copies as (
    -- group by the narrow columns only; the wide ones (body, lists) are fetched for the first copy
    select
        body_hash,
        arg_min(doc_id, (ingested_at, doc_id)) as doc_id,
        count(*) as n_copies,
        min(published_at) as first_published_at,
        min(ingested_at) as first_seen,
        max(ingested_at) as last_seen
    from staging.stg_articles
    group by body_hash
),
ranked as (
    select a.*, c.n_copies, c.first_published_at, c.first_seen, c.last_seen
    from copies c
    join staging.stg_articles a on a.doc_id = c.doc_id
)
select
    doc_id,
    source_name,
    url,
    title,
    subtitle,
    byline,
    credits,
    captions,
    tags,
    body,
    language,
    n_words,
    n_paragraphs,
    n_boilerplate_lines,
    body_hash,
    first_published_at as published_at,
    n_copies,
    first_seen,
    last_seen,
    ingest_date
from ranked
