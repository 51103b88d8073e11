-- model: Agencies and outlets credited in unique articles (text credits and credits in bylines), spelling variants merged.
-- column source: most used spelling of the source (ties: the first in sort order, so `Euro News`
--   wins over `euro-news`); primary key.
-- column source_key: normalised name the spellings were merged on (lower case, letters and digits only).
-- column articles: unique articles crediting the source.
-- column spellings: every spelling seen, sorted.
-- column first_seen: when the first article crediting it was ingested (UTC).
-- column last_seen: when the latest article crediting it was ingested (UTC).
-- test unique: source
-- test not_null: source
-- test unique: source_key
-- test not_null: source_key
with credited as (
    select doc_id, first_seen, unnest(credits) as name
    from marts.articles
    union all
    -- credits still inside a byline, e.g. "Vu Anh (Laut Interfax, Reuters)" or "Von X, dpa/AFP"
    select doc_id, first_seen, unnest(string_split_regex(
        regexp_replace(regexp_extract(byline, '\([^)]*\)|,\s*[A-Za-z]{2,6}(?:/[A-Za-z]{2,6})*$'),
                       '^[(,]\s*(?i:laut|quelle:?|nach|via|mit material von)?\s*|\)$', '', 'g'),
        '\s*(?:,|/|&|\bund\b)\s*')) as name
    from marts.articles
    where byline is not null
),
named as (
    select doc_id, first_seen, trim(name) as name,
           lower(regexp_replace(name, '[^\p{L}\p{N}]+', '', 'g')) as source_key
    from credited
    where trim(name) <> ''
),
spellings as (
    select source_key, name, count(*) as n
    from named
    group by all
)
select
    (select first(s.name order by s.n desc, s.name) from spellings s where s.source_key = named.source_key) as source,
    source_key,
    count(distinct doc_id) as articles,
    list_sort(list_distinct(list(name))) as spellings,
    min(first_seen) as first_seen,
    max(first_seen) as last_seen
from named
group by source_key
