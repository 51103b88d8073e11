-- model: What the articles of each loading run (one first_seen) add to each source, per spelling: `marts.sources` adds these up.
--   A run adds the rows of its own articles: no row of an earlier run changes.
-- materialized: incremental
-- unique_key: source_key, name, first_seen
-- incremental_strategy: append
-- column source_key: normalised name of the source.
-- column name: a spelling of the source.
-- column first_seen: the run's articles' first_seen (UTC).
-- column mentions: mentions of the source in that spelling.
-- column articles: the run's articles whose first mention of the source is in that spelling.
select source_key, name, first_seen, count(*) as mentions, count(*) filter (where mention_no = 1) as articles
from changed.int_article_credits
group by all
