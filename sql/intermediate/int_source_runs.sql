-- model: What the articles of each loading run (one first_seen) add to each source: `marts.sources` adds these up.
--   A run adds the rows of its own articles: no row of an earlier run changes.
-- materialized: incremental
-- unique_key: source_key, first_seen
-- incremental_strategy: append
-- column source_key: normalised name of the source.
-- column first_seen: the run's articles' first_seen (UTC).
-- column articles: of those articles, the ones crediting the source.
-- column spellings: each spelling used for the source and how often (mentions).
with mentions as (
    select source_key, first_seen, name, count(*) as mentions
    from (select source_key, first_seen, unnest(names) as name from changed.int_article_credits)
    group by all
),
articles as (
    select source_key, first_seen, count(*) as articles
    from changed.int_article_credits
    group by all
)
select a.source_key, a.first_seen, a.articles,
       list({'name': m.name, 'mentions': m.mentions} order by m.name) as spellings
from articles a
join mentions m using (source_key, first_seen)
group by a.source_key, a.first_seen, a.articles
