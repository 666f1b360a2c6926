-- Session per event: the GA4 session id when the event carries one (key = anonymous_id + sid), else a new session
-- after `tagpipe_session_timeout_minutes` of inactivity on the same anonymous_id. Events without an anonymous_id
-- (cookieless, no analytics consent) belong to no session.
-- Incremental: only devices (anonymous_ids) with events inserted since the last run are re-sessionized, over
-- their whole history, so a late event that splits or joins sessions is handled; upsert by event_id.
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy=tp_upsert_strategy(),
        cluster_by=(['anonymous_id'] if target.type == 'bigquery' else none),
    )
}}

with

all_events as (
    select
        event_id,
        anonymous_id,
        session_id,
        occurred_at,
        loaded_at
    from {{ ref('int_events_deduped') }}
    where anonymous_id is not null
),

{%- if is_incremental() %}

touched as (
    select distinct anonymous_id from all_events
    where loaded_at > {{ tp_high_watermark('loaded_at') }}
),

events as (
    select * from all_events
    where anonymous_id in (select anonymous_id from touched)
),
{%- else %}

events as (
    select * from all_events
),
{%- endif %}

without_sid as (
    select
        event_id,
        anonymous_id,
        occurred_at,
        loaded_at,
        lag(occurred_at) over (partition by anonymous_id order by occurred_at, event_id) as previous_at
    from events
    where session_id is null
),

inactivity_starts as (
    select
        *,
        case
            when previous_at is null then 1
            when
                {{ tp_epoch_ms('occurred_at') }} - {{ tp_epoch_ms('previous_at') }}
                > {{ var('tagpipe_session_timeout_minutes') | int }} * 60000 then 1
            else 0
        end as is_session_start
    from without_sid
),

inactivity_numbered as (
    select
        *,
        sum(is_session_start) over (
            partition by anonymous_id order by occurred_at, event_id rows between unbounded preceding and current row
        ) as session_number
    from inactivity_starts
),

inactivity_sessions as (
    select
        event_id,
        anonymous_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        loaded_at,
        -- Keyed by the session's first event time, so a new batch never renumbers older sessions.
        cast(
            min({{ tp_epoch_ms('occurred_at') }}) over (partition by anonymous_id, session_number)
            as {{ dbt.type_string() }}
        ) as session_start_ms
    from inactivity_numbered
),

ga4_sessions as (
    select
        event_id,
        anonymous_id,
        session_id,
        loaded_at
    from events
    where session_id is not null
)

select
    event_id,
    anonymous_id,
    session_id,
    substr({{ tp_sha256_hex("anonymous_id || ':t:' || session_start_ms") }}, 1, 32) as session_key,
    loaded_at
from inactivity_sessions
union all
select
    event_id,
    anonymous_id,
    session_id,
    substr({{ tp_sha256_hex("anonymous_id || ':sid:' || session_id") }}, 1, 32) as session_key,
    loaded_at
from ga4_sessions
