-- no article with an empty body
select doc_id from marts.articles where body is null or trim(body) = ''
