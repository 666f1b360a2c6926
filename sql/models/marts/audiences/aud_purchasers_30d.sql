-- People with a purchase in the 30 days before `tagpipe_as_of` (now by default).
select
    person_id,
    max(occurred_at) as qualified_at
from {{ ref('conversions') }}
where
    conversion_type = 'purchase'
    and occurred_at >= {{ dbt.dateadd('day', -30, tp_as_of()) }}
    and occurred_at <= {{ tp_as_of() }}
group by person_id
