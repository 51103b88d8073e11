-- model: Cleaned articles, one row per loaded document (exact copies not yet collapsed).
-- column doc_id: the document the article was cleaned from (`stg_documents.doc_id`).
-- column source_uri: path of the input file (with `#L<n>` for the record on line n of a JSONL file).
-- column source_name: name of the input root.
-- column url: original URL, when known.
-- column site_name: the publication's name as an HTML page states it (its metadata), when known.
-- column title: headline.
-- column subtitle: sub-headline / teaser, when found.
-- column byline: author(s), without agency credits.
-- column credits: agencies and outlets credited in the text (e.g. `Reuters`, `Euro News`).
-- column captions: photo captions moved out of the body.
-- column tags: tags / section labels found in the text.
-- column paragraphs: body paragraphs in order (the body split at blank lines; the lake stores the body only).
-- column body: paragraphs joined by blank lines; what search and analyses read.
-- column language: ISO 639-1 language code detected on the body.
-- column n_words: words in the body.
-- column n_paragraphs: paragraphs in the body.
-- column n_boilerplate_lines: lines the cleaner removed (see `stg_boilerplate`).
-- column body_hash: SHA-256 of the body text; equal hashes are exact copies.
-- column minhash: one-permutation MinHash of the body's 5-word shingles (64 bins, null = empty bin; see tasks/ingest/fingerprint.py).
-- column published_at: publication time (UTC), when it could be parsed.
-- column ingested_at: when the loading run processed the document (UTC).
-- column ingest_date: lake partition date (UTC).
-- column run_id: the run that loaded the article.
-- column pipeline_version: version of the cleaning code and rules that produced the row.
-- column lake_rowid: DuckDB's row id of the row in `lake.articles`: a compact join key within one query
--   (joins on 64-character doc_ids need several times the memory), not an identifier to keep.
-- test relationships: doc_id -> staging.stg_documents.doc_id
select
    doc_id,
    source_uri,
    source_name,
    url,
    site_name,
    title,
    subtitle,
    byline,
    credits,
    captions,
    tags,
    CASE WHEN body = '' THEN []::VARCHAR[] ELSE string_split(body, chr(10) || chr(10)) END AS paragraphs,
    body,
    language,
    n_words,
    n_paragraphs,
    n_boilerplate_lines,
    body_hash,
    minhash,
    published_at,
    ingested_at,
    ingest_date,
    run_id,
    pipeline_version,
    rowid AS lake_rowid
from lake.articles
