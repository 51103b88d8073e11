-- test: no known boilerplate pattern is left in the title or body of marts.articles.
--   A content heuristic: an article may quote such a phrase ("Leave a Reply" in a piece about
--   blogs), so a finding is reported, never a failure; `explain` shows why a line was kept.
--   One regular expression (the patterns joined by |), tried only on the texts that contain one of
--   the literals the patterns need: contains() is a fast scan, the regular expression is not.
-- severity: warn
with texts as (
    select doc_id, 'title' as field, title as text from changed.articles where title is not null
    union all
    select doc_id, 'body', body from changed.articles
),
candidates as (
    select * from texts
    where contains(text, '[Anzeige_') or contains(text, 'Kommentar (') or contains(text, 'Leave a Reply')
       or contains(text, 'Your email address will not be published') or contains(text, 'This site uses Akismet')
       or contains(text, 'source-') or contains(text, '(Quelle: ') or contains(text, 'Lesen Sie mehr mit Euractiv')
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
    from candidates
)
select doc_id, field, context from found where context <> ''
