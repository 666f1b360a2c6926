-- One row per conversion (events named in the `tagpipe_conversion_events` var), deduplicated by transaction id:
-- the browser and the server firing the same purchase with different event_ids is one conversion (the first).
{%- set conversion_events = var('tagpipe_conversion_events') %}

with

candidates as (
    select
        *,
        coalesce(transaction_id, event_id) as conversion_key,
        case event_name
            {%- for name, kind in conversion_events.items() %}
            when '{{ name }}' then '{{ kind }}'
            {%- endfor %}
        end as conversion_type
    from {{ ref('events') }}
    where event_name in (
        {%- for name in conversion_events.keys() %}
        '{{ name }}'{{ ',' if not loop.last }}
        {%- endfor %}
    )
),

firsts as (
    select * from candidates
    where true
    qualify row_number() over (partition by conversion_key order by occurred_at, event_id) = 1
)

select
    conversion_key,
    event_id,
    event_name,
    conversion_type,
    occurred_at,
    event_date,
    transaction_id,
    value,
    currency,
    items,
    person_id,
    user_id,
    anonymous_id,
    session_id,
    session_key,
    email_sha256,
    phone_sha256,
    gclid,
    gbraid,
    wbraid,
    fbc,
    fbp,
    ttclid,
    msclkid,
    li_fat_id,
    ip,
    user_agent,
    page_url,
    country,
    {{ consent_columns() }}
from firsts
