-- articles: one row per unique article (exact copies by body hash collapsed).
-- columns: doc_id, source_name, url, title, subtitle, byline, credits, captions, tags, body,
--   language, n_words, n_paragraphs, n_boilerplate_lines, body_hash, published_at, n_copies,
--   first_seen, last_seen
select
    arg_min(doc_id, ingested_at) as doc_id,
    arg_min(source_name, ingested_at) as source_name,
    arg_min(url, ingested_at) as url,
    arg_min(title, ingested_at) as title,
    arg_min(subtitle, ingested_at) as subtitle,
    arg_min(byline, ingested_at) as byline,
    arg_min(credits, ingested_at) as credits,
    arg_min(captions, ingested_at) as captions,
    arg_min(tags, ingested_at) as tags,
    arg_min(body, ingested_at) as body,
    arg_min(language, ingested_at) as language,
    arg_min(n_words, ingested_at) as n_words,
    arg_min(n_paragraphs, ingested_at) as n_paragraphs,
    arg_min(n_boilerplate_lines, ingested_at) as n_boilerplate_lines,
    body_hash,
    min(published_at) as published_at,
    count(*) as n_copies,
    min(ingested_at) as first_seen,
    max(ingested_at) as last_seen
from staging.stg_articles
group by body_hash
