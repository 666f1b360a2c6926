-- One row per conversion (events named in the `tagpipe_conversion_events` var), deduplicated by transaction id:
-- the browser and the server firing the same purchase with different event_ids is one conversion (the first seen).
-- Incremental: conversions among the events int_events_deduped inserted since the last run whose conversion_key is
-- not stored yet. The conversions mart adds person and session (a view, so re-stitching applies).
{{
    config(
        materialized='incremental',
        unique_key='conversion_key',
        incremental_strategy=tp_append_strategy(),
        cluster_by=(['conversion_key'] if target.type == 'bigquery' else none),
    )
}}
{%- set conversion_events = var('tagpipe_conversion_events') %}
{%- set read_after = tp_high_watermark('loaded_at') if is_incremental()
    else tp_timestamp_literal('1970-01-01 00:00:00') %}

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
    from {{ ref('int_events_deduped') }}
    where
        event_name in (
            {%- for name in conversion_events.keys() %}
            '{{ name }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
        and loaded_at > {{ read_after }}
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
    user_id,
    anonymous_id,
    session_id,
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
    {{ consent_columns() }},
    loaded_at
from firsts
{%- if is_incremental() %}
where conversion_key not in (select conversion_key from {{ this }})
{%- endif %}
