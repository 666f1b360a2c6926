-- The latest consent per person (by event time): a withdrawal in the newest event wins, and every ads mart joins
-- this table, so withdrawal propagates to audiences on the next run.
with

ranked as (
    select
        person_id,
        {{ consent_columns() }},
        occurred_at,
        event_id
    from {{ ref('events') }}
    where person_id is not null
    qualify row_number() over (
        partition by person_id order by occurred_at desc, received_at desc, event_id desc
    ) = 1
)

select
    person_id,
    {{ consent_columns() }},
    occurred_at as consent_updated_at,
    event_id as consent_event_id
from ranked
