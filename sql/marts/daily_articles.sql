-- model: Unique articles per day: by the date they were first loaded and the date they were published.
-- column ingest_date: lake partition date of the first copy (UTC); key with published_date.
-- column published_date: publication date (UTC); null when the article carries none.
-- column articles: unique articles (see `marts.articles`).
-- column words: total words in their bodies.
-- column languages: distinct languages, sorted.
-- column n_languages: number of distinct languages.
-- test unique: ingest_date, published_date
-- test not_null: ingest_date
select
    ingest_date,
    cast(timezone('UTC', published_at) as date) as published_date,
    count(*) as articles,
    sum(n_words)::BIGINT as words,
    list_sort(list_distinct(list(language))) as languages,
    count(distinct language) as n_languages
from marts.articles
group by all
