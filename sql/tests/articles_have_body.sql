-- test: no article in marts.articles has an empty body.
select doc_id, title
from marts.articles
where body is null or regexp_matches(body, '^\s*$')
