-- One row per session (int_sessionized_events): bounds, counts, landing page and campaign of its first event.
-- Incremental (both targets): the sessions that int_sessionized_events wrote rows for since the last run are
-- aggregated again from all their events (read from the earliest start among them on: a literal, so the history
-- is pruned) and upserted by session_key; sessions merged into an earlier one by a new event are deleted first
-- (pre_hook, macros/sessions.sql).
{%- if is_incremental() %}
    {%- set since = tp_mark('_tp_sessionized_at') %}
    {%- set read_from = tp_sessions_read_from(since) %}
{%- endif %}
{{
    config(
        materialized='incremental',
        unique_key='session_key',
        incremental_strategy=tp_upsert_strategy(),
        on_schema_change='append_new_columns',
        cluster_by=(['session_key'] if target.type == 'bigquery' else none),
        pre_hook="{{ tp_delete_merged_sessions() }}",
    )
}}

with

events as (
    select * from {{ ref('int_sessionized_events') }}
    {%- if is_incremental() %}
    where
        occurred_at >= {{ read_from }}
        and session_key in (
            select session_key from {{ ref('int_sessionized_events') }}
            where _tp_sessionized_at > {{ since }}
        )
    {%- endif %}
),

sessions as (
    select
        session_key,
        max(loaded_at) as loaded_at,
        max(_tp_sessionized_at) as _tp_sessionized_at,
        max(anonymous_id) as anonymous_id,
        max(session_id) as session_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as event_count,
        sum(case when type = 'page' then 1 else 0 end) as page_views,
        {{ tp_first_value_agg('page_url', 'occurred_at') }} as landing_page_url,
        {{ tp_first_value_agg('page_path', 'occurred_at') }} as landing_page_path,
        {{ tp_first_value_agg('page_referrer', 'occurred_at') }} as referrer,
        {{ tp_first_value_agg('utm_source', 'occurred_at') }} as utm_source,
        {{ tp_first_value_agg('utm_medium', 'occurred_at') }} as utm_medium,
        {{ tp_first_value_agg('utm_campaign', 'occurred_at') }} as utm_campaign,
        {{ tp_first_value_agg('utm_term', 'occurred_at') }} as utm_term,
        {{ tp_first_value_agg('utm_content', 'occurred_at') }} as utm_content,
        {{ tp_first_value_agg('gclid', 'occurred_at') }} as gclid,
        {{ tp_first_value_agg('country', 'occurred_at') }} as country,
        {{ tp_first_value_agg('device_type', 'occurred_at') }} as device_type,
        max(case when session_engaged then 1 else 0 end) as ga4_engaged,
        sum(case when type = 'track' then 1 else 0 end) as track_events
    from events
    group by session_key
)

select
    session_key,
    anonymous_id,
    loaded_at,
    session_id,
    started_at,
    ended_at,
    cast(({{ tp_epoch_ms('ended_at') }} - {{ tp_epoch_ms('started_at') }}) / 1000 as {{ dbt.type_bigint() }})
        as duration_seconds,
    event_count,
    page_views,
    landing_page_url,
    landing_page_path,
    referrer,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    gclid,
    country,
    device_type,
    -- GA4's definition: the client said engaged, or 10+ seconds, or 2+ page views, or a track event.
    (
        ga4_engaged = 1
        or {{ tp_epoch_ms('ended_at') }} - {{ tp_epoch_ms('started_at') }} >= 10000
        or page_views >= 2
        or track_events > 0
    ) as is_engaged,
    _tp_sessionized_at
from sessions
