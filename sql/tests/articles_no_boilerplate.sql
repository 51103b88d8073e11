-- test: no known boilerplate pattern is left in the title or body of marts.articles.
--   One regular expression (the patterns joined by |), so that the check is one pass over the text.
with texts as (
    select doc_id, 'title' as field, title as text from marts.articles where title is not null
    union all
    select doc_id, 'body', body from marts.articles
),
found as (
    select doc_id, field, regexp_extract(text, '.{0,40}(?:' || concat_ws('|',
        '\[Anzeige_\d+\]',
        'Kommentar \(\d+\)',
        'Leave a Reply',
        'Your email address will not be published',
        'This site uses Akismet',
        '\bsource-\d+\b',
        '\(Quelle: [^)]*\)\s*\|',
        'Lesen Sie mehr mit Euractiv'
    ) || ').{0,40}') as context
    from texts
)
select doc_id, field, context from found where context <> ''
