-- test: the copies counted in marts.articles add up to every loaded copy of the bodies the build loaded copies of, and every body_hash is kept.
with touched as (
    select distinct body_hash from changed.stg_articles
),
-- one grouping over both sides, no join of two big ones: on a first build the marts are new in the
-- build's transaction and the planner does not know their size
copies as (
    select s.body_hash, 1 as loaded, null::bigint as counted
    from staging.stg_articles s semi join touched t on s.body_hash is not distinct from t.body_hash
    union all
    select a.body_hash, 0 as loaded, a.n_copies as counted
    from marts.articles a semi join touched t on a.body_hash is not distinct from t.body_hash
)
select body_hash, sum(loaded)::bigint as loaded_copies, max(counted) as counted_copies
from copies
group by body_hash
having max(counted) is distinct from sum(loaded)
