-- model: Each mention of a source that a unique article credits (text credits and credits inside its byline).
--   A byline's credits are e.g. "Vu Anh (Laut Interfax, Reuters)" or "Von X, dpa/AFP"; spellings
--   are merged on a normalised key (lower case, letters and digits only). A run adds the articles
--   it brought (those whose first copy it loaded): an article's credits never change.
-- materialized: incremental
-- unique_key: doc_id
-- incremental_strategy: append
-- column doc_id: the article (`marts.articles.doc_id`).
-- column source_key: normalised name of the source.
-- column name: the spelling of this mention.
-- column mention_no: the mention's number among the article's mentions of the source (1, 2, …; by spelling).
-- column first_seen: when the article's first copy was ingested (UTC).
-- test unique (warn): doc_id, source_key, mention_no
with new_articles as (
    select a.doc_id, a.first_seen, a.credits, a.byline
    from changed.articles a
    semi join changed.stg_articles s using (doc_id)
),
credited as (
    select doc_id, first_seen, unnest(credits) as name
    from new_articles
    union all
    select doc_id, first_seen, unnest(string_split_regex(
        regexp_replace(regexp_extract(byline, '\([^)]*\)|,\s*[A-Za-z]{2,6}(?:/[A-Za-z]{2,6})*$'),
                       '^[(,]\s*(?i:laut|quelle:?|nach|via|mit material von)?\s*|\)$', '', 'g'),
        '\s*(?:,|/|&|\bund\b)\s*')) as name
    from new_articles
    where byline is not null
),
named as (
    select doc_id, first_seen, trim(name) as name,
           lower(regexp_replace(name, '[^\p{L}\p{N}]+', '', 'g')) as source_key
    from credited
    where trim(name) <> ''
)
select doc_id, source_key, name,
       row_number() over (partition by doc_id, source_key order by name) as mention_no,
       first_seen
from named
