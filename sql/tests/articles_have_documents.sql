-- test: every unique article comes from a loaded document (marts.articles.doc_id in staging.stg_documents).
select a.doc_id, a.title
from marts.articles a
anti join staging.stg_documents d using (doc_id)
