-- model: Bridge from articles to the agencies and outlets they credit: one row per credit, for BI tools that cannot unnest `marts.articles.credits`.
-- column doc_id: the article (`marts.articles.doc_id`).
-- column credit: one entry of its `credits`, as written.
-- column position: the entry's place in `credits` (1 = first).
select doc_id, unnest(credits) as credit, generate_subscripts(credits, 1) as position
from marts.articles
