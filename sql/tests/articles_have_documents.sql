-- every article comes from a loaded document
select a.doc_id from staging.stg_articles a anti join staging.stg_documents d using (doc_id)
