-- People whose lifetime purchase value reaches `tagpipe_high_value_threshold`.
select
    person_id,
    last_purchase_at as qualified_at
from {{ ref('users') }}
where lifetime_value >= {{ var('tagpipe_high_value_threshold') }}
