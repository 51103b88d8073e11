-- stg_articles: cleaned articles, one row per doc_id.
-- columns: doc_id, source_uri, source_name, url, title, subtitle, byline, credits, captions, tags,
--   paragraphs, body, language, n_words, n_paragraphs, n_boilerplate_lines, body_hash,
--   published_at, ingested_at, ingest_date, run_id, pipeline_version
select
    doc_id,
    source_uri,
    source_name,
    url,
    title,
    subtitle,
    byline,
    credits,
    captions,
    tags,
    paragraphs,
    body,
    language,
    n_words,
    n_paragraphs,
    n_boilerplate_lines,
    body_hash,
    published as published_at,
    ingested_at,
    ingest_date,
    run_id,
    pipeline_version
from lake.articles
