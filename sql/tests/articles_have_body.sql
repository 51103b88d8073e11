-- test: no article in marts.articles has an empty body.
select doc_id, title
from changed.articles
where body is null or regexp_matches(body, '^\s*$')
