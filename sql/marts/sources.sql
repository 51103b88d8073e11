-- model: Agencies and outlets credited in unique articles (text credits and credits in bylines), spelling variants merged.
--   A run recomputes the sources its new articles credit, from what each run added (`intermediate.int_source_runs`).
-- materialized: incremental
-- unique_key: source_key
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
with touched as (
    select distinct source_key from changed.int_source_runs
),
runs as (
    select * from intermediate.int_source_runs semi join touched using (source_key)
),
spellings as (
    select source_key, name, sum(mentions) as n from runs group by all
)
select
    (select first(s.name order by s.n desc, s.name) from spellings s where s.source_key = r.source_key) as source,
    r.source_key,
    sum(r.articles)::BIGINT as articles,
    list(distinct r.name order by r.name) as spellings,
    min(r.first_seen) as first_seen,
    max(r.first_seen) as last_seen
from runs r
group by r.source_key
