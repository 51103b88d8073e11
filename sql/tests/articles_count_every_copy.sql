-- test: the copies counted in marts.articles add up to every loaded article, and every body_hash is kept.
select s.body_hash, count(*) as loaded_copies, any_value(a.n_copies) as counted_copies
from staging.stg_articles s
left join marts.articles a using (body_hash)
group by s.body_hash
having any_value(a.n_copies) is distinct from count(*)
