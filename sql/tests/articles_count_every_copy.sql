-- test: the copies counted in marts.articles add up to every loaded copy of the bodies the build loaded copies of, and every body_hash is kept.
with touched as (
    select distinct body_hash from changed.stg_articles
),
loaded as (
    select s.body_hash, count(*) as loaded_copies
    from staging.stg_articles s semi join touched t on s.body_hash is not distinct from t.body_hash
    group by s.body_hash
),
counted as (
    select a.body_hash, a.n_copies
    from marts.articles a semi join touched t on a.body_hash is not distinct from t.body_hash
)
select l.body_hash, l.loaded_copies, c.n_copies as counted_copies
from loaded l
left join counted c on c.body_hash is not distinct from l.body_hash
where c.n_copies is distinct from l.loaded_copies
