-- Activity per identity-graph node (the event's user_id, else email_sha256, else anonymous_id): counts, first and
-- last seen, the latest value of each trait and the latest consent, each with the time it was seen.
-- users and consent_state roll these up per person through identities, so re-stitching needs no event scan.
-- Incremental upsert by node over exactly the events int_events_deduped inserted since the last run (loaded_at),
-- so counts are never taken twice.
{{
    config(
        materialized='incremental',
        unique_key='node',
        incremental_strategy=tp_upsert_strategy(),
        cluster_by=(['node'] if target.type == 'bigquery' else none),
    )
}}
{%- set latest = [
    'trait_email', 'trait_phone', 'trait_first_name', 'trait_last_name',
    'email_sha256', 'phone_sha256', 'country', 'identify_traits',
] %}
{%- set consent = [
    'consent_analytics', 'consent_ads', 'consent_ad_user_data', 'consent_ad_personalization', 'consent_source',
] %}

{%- set read_after = tp_high_watermark('loaded_at') if is_incremental()
    else tp_timestamp_literal('1970-01-01 00:00:00') %}
with

batch as (
    select
        {{ tp_primary_node() }} as node,
        occurred_at,
        loaded_at,
        trait_email,
        trait_phone,
        trait_first_name,
        trait_last_name,
        email_sha256,
        phone_sha256,
        country,
        case when type = 'identify' then traits end as identify_traits,
        {{ consent_columns() }}
    from {{ ref('int_events_deduped') }}
    where
        coalesce(user_id, email_sha256, anonymous_id) is not null
        and loaded_at > {{ read_after }}
),

new_activity as (
    select
        node,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as event_count,
        {%- for f in latest %}
        {{ tp_last_value_agg(f, 'occurred_at') }} as {{ f }},
        max(case when {{ f }} is not null then occurred_at end) as {{ f }}_at,
        {%- endfor %}
        {%- for f in consent %}
        {{ tp_last_value_agg(f, 'occurred_at') }} as {{ f }},
        {%- endfor %}
        max(occurred_at) as consent_at,
        max(loaded_at) as loaded_at
    from batch
    group by node
)

{%- if is_incremental() %},

merged as (
    select * from new_activity
    union all
    select
        node,
        first_seen_at,
        last_seen_at,
        event_count,
        {%- for f in latest %}
        {{ f }},
        {{ f }}_at,
        {%- endfor %}
        {%- for f in consent %}
        {{ f }},
        {%- endfor %}
        consent_at,
        loaded_at
    from {{ this }}
    where node in (select node from new_activity)
)

select
    node,
    min(first_seen_at) as first_seen_at,
    max(last_seen_at) as last_seen_at,
    sum(event_count) as event_count,
    {%- for f in latest %}
    {{ tp_last_value_agg(f, f ~ '_at') }} as {{ f }},
    max({{ f }}_at) as {{ f }}_at,
    {%- endfor %}
    {%- for f in consent %}
    {{ tp_last_value_agg(f, 'consent_at') }} as {{ f }},
    {%- endfor %}
    max(consent_at) as consent_at,
    max(loaded_at) as loaded_at
from merged
group by node
{%- else %}

select * from new_activity
{%- endif %}
