-- Session per event: the GA4 session id when the event carries one (key = anonymous_id + sid), else a new session
-- after `tagpipe_session_timeout_minutes` of inactivity on the same anonymous_id. Events without an anonymous_id
-- (cookieless, no analytics consent) belong to no session. Each row keeps the event fields int_sessions aggregates,
-- so sessions are rebuilt from this table alone.
-- Incremental: events int_events_deduped inserted since the last run are added. A new event can only join or
-- extend sessions (it never splits one), so on a device only the stored events from `timeout` before its earliest
-- new inactivity event on are sessionized again, with the stored start of the session they belonged to (that
-- session may have begun earlier; its earlier events keep their key). Rows are written in event-time order (and
-- partitioned by day on BigQuery), so that window is read without a scan of the history. Upsert by event_id.
{%- set timeout_ms = (var('tagpipe_session_timeout_minutes') | int) * 60000 %}
{%- set fields = [
    'type', 'page_url', 'page_path', 'page_referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term',
    'utm_content', 'gclid', 'country', 'device_type', 'session_engaged',
] %}
{%- if is_incremental() %}
    {%- set read_after = tp_high_watermark('loaded_at') %}
    {%- set window_from = tp_session_window_from(ref('int_events_deduped'), read_after) %}
{%- endif %}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy=tp_upsert_strategy(),
        partition_by=(
            {'field': 'occurred_at', 'data_type': 'timestamp', 'granularity': 'day'}
            if target.type == 'bigquery' else none
        ),
        cluster_by=(['anonymous_id'] if target.type == 'bigquery' else none),
    )
}}

with

-- The events int_events_deduped inserted since the last run (every event on a full build).
new_events as (
    select
        event_id,
        anonymous_id,
        session_id,
        occurred_at,
        {{ fields | join(',\n        ') }},
        loaded_at
    from {{ ref('int_events_deduped') }}
    where anonymous_id is not null
    {%- if is_incremental() %}
        and loaded_at > {{ read_after }}
    {%- endif %}
),
{%- if is_incremental() %}

-- Per device: stored events from this time on may change session.
resessionize_from as (
    select
        anonymous_id,
        min({{ tp_epoch_ms('occurred_at') }}) - {{ timeout_ms }} as from_ms
    from new_events
    where session_id is null
    group by anonymous_id
),
{%- endif %}

without_sid_input as (
    select
        event_id,
        anonymous_id,
        occurred_at,
        {{ fields | join(',\n        ') }},
        loaded_at,
        case when false then occurred_at end as stored_started_at
    from new_events
    where session_id is null
    {%- if is_incremental() %}
    union all
    select
        stored.event_id,
        stored.anonymous_id,
        stored.occurred_at,
        {%- for f in fields %}
        stored.{{ f }},
        {%- endfor %}
        stored.loaded_at,
        stored.session_started_at as stored_started_at
    from {{ this }} as stored
    inner join resessionize_from on stored.anonymous_id = resessionize_from.anonymous_id
    where
        stored.session_id is null
        -- The literal prunes the history (row groups, partitions); the per-device bound is the exact one.
        and stored.occurred_at >= {{ window_from }}
        and {{ tp_epoch_ms('stored.occurred_at') }} >= resessionize_from.from_ms
    {%- endif %}
),

ga4_input as (
    select * from new_events
    where session_id is not null
),

without_sid as (
    select
        *,
        lag(occurred_at) over (partition by anonymous_id order by occurred_at, event_id) as previous_at
    from without_sid_input
),

inactivity_starts as (
    select
        *,
        case
            when previous_at is null then 1
            when {{ tp_epoch_ms('occurred_at') }} - {{ tp_epoch_ms('previous_at') }} > {{ timeout_ms }} then 1
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
        *,
        -- The session's first event time (a stored start when the session began before the re-read window), so
        -- a new batch never renumbers older sessions.
        min(coalesce(stored_started_at, occurred_at)) over (partition by anonymous_id, session_number)
            as session_started_at
    from inactivity_numbered
),

sessionized as (
    select
        event_id,
        anonymous_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        substr(
            {{ tp_sha256_hex(
                "anonymous_id || ':t:' || cast(" ~ tp_epoch_ms('session_started_at') ~ " as " ~ dbt.type_string() ~ ")"
            ) }},
            1,
            32
        ) as session_key,
        occurred_at,
        session_started_at,
        {{ fields | join(',\n        ') }},
        loaded_at
    from inactivity_sessions
    union all
    select
        event_id,
        anonymous_id,
        session_id,
        substr({{ tp_sha256_hex("anonymous_id || ':sid:' || session_id") }}, 1, 32) as session_key,
        occurred_at,
        case when false then occurred_at end as session_started_at,
        {{ fields | join(',\n        ') }},
        loaded_at
    from ga4_input
)

select
    *,
    {{ tp_timestamp_literal(run_started_at) }} as _tp_sessionized_at
from sessionized
{{ tp_storage_order('occurred_at') }}
