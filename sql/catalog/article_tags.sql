-- model: Bridge from articles to their tags and section labels: one row per tag, for BI tools that cannot unnest `marts.articles.tags`.
-- column doc_id: the article (`marts.articles.doc_id`).
-- column tag: one entry of its `tags`, as written.
-- column position: the entry's place in `tags` (1 = first).
select doc_id, unnest(tags) as tag, generate_subscripts(tags, 1) as position
from marts.articles
