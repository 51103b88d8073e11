-- model: Unique articles per day: by the date they were first loaded and the date they were published.
--   A run recomputes the days (ingest_date) of the articles it added or changed.
-- materialized: incremental
-- unique_key: ingest_date
-- column ingest_date: lake partition date of the first copy (UTC); key with published_date.
-- column published_date: publication date (UTC); null when the article carries none.
-- column articles: unique articles (see `marts.articles`).
-- column words: total words in their bodies.
-- column languages: distinct languages, sorted.
-- column n_languages: number of distinct languages.
-- test unique: ingest_date, published_date
-- test not_null: ingest_date
with touched as (
    select distinct ingest_date from changed.articles
)
select
    ingest_date,
    cast(timezone('UTC', published_at) as date) as published_date,
    count(*) as articles,
    sum(n_words)::BIGINT as words,
    list_sort(list(distinct language)) as languages,
    count(distinct language) as n_languages
from marts.articles
semi join touched using (ingest_date)
group by all
