-- test: no known boilerplate pattern is left in the title or body of marts.articles.
with patterns(pattern) as (
    values
        ('\[Anzeige_\d+\]'),
        ('Kommentar \(\d+\)'),
        ('Leave a Reply'),
        ('Your email address will not be published'),
        ('This site uses Akismet'),
        ('\bsource-\d+\b'),
        ('\(Quelle: [^)]*\)\s*\|'),
        ('Lesen Sie mehr mit Euractiv')
)
select a.doc_id, p.pattern, regexp_extract(coalesce(a.title, '') || ' ' || a.body, '.{0,40}' || p.pattern || '.{0,40}') as context
from marts.articles a
join patterns p on regexp_matches(coalesce(a.title, '') || ' ' || a.body, p.pattern)
