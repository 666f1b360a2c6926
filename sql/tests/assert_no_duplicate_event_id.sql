-- At-least-once in, exactly once in the models: no event_id appears twice in the deduplicated tables.
select
    'int_events_deduped' as relation,
    event_id,
    count(*) as copies
from {{ ref('int_events_deduped') }}
group by event_id
having count(*) > 1
union all
select
    'events' as relation,
    event_id,
    count(*) as copies
from {{ ref('events') }}
group by event_id
having count(*) > 1
