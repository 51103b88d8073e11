-- test: every loaded article (every copy, staging.stg_articles) has its document in staging.stg_documents.
select a.doc_id, a.source_uri
from staging.stg_articles a
anti join staging.stg_documents d using (doc_id)
