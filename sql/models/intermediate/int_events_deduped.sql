-- One row per event_id: the first raw message by publish_time (at-least-once in, DESIGN.md principle 3).
-- Incremental: each run reads only raw rows published after the high-water mark minus `tagpipe_lookback_hours`,
-- keeps the first message per event_id, and inserts only event_ids not already stored. The existence check looks up
-- only the batch's event_ids; on BigQuery it also reads stored rows from the oldest event date in the batch on (a
-- literal, so date partitions are pruned: BigQuery bills scanned bytes) and clustering by event_id narrows it
-- further. DuckDB skips that bound: finding the date costs one more parse of the batch's JSON, more than it saves.
-- Only new event_ids reach BigQuery's MERGE, so its destination scan can be cut to the last day's partitions
-- (incremental_predicates) without risk of a duplicate: an unmatched row is inserted, which is what every row of
-- the batch is anyway.
{%- set read_from = tp_low_watermark('published_at') if is_incremental() else none %}
{%- set oldest_date = tp_min_value(ref('stg_events'), 'event_date', 'published_at >= ' ~ read_from)
    if is_incremental() and target.type == 'bigquery' else none %}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy=tp_append_strategy(),
        incremental_predicates=(
            ['DBT_INTERNAL_DEST.event_date >= ' ~ tp_date_days_ago(1)] if target.type == 'bigquery' else none
        ),
        partition_by=({'field': 'event_date', 'data_type': 'date'} if target.type == 'bigquery' else none),
        cluster_by=(['event_id'] if target.type == 'bigquery' else none),
        on_schema_change='append_new_columns',
    )
}}

with

batch as (
    select * from {{ ref('stg_events') }}
    {%- if is_incremental() %}
    where published_at >= {{ read_from }}
    {%- endif %}
),

first_messages as (
    select * from batch
    where true
    qualify row_number() over (partition by event_id order by published_at, message_id) = 1
)

{%- if is_incremental() %},

already_stored as (
    select event_id from {{ this }}
    where
        event_id in (select event_id from first_messages)
        {%- if oldest_date is not none %}
        and event_date >= {{ oldest_date }}
        {%- endif %}
)
{%- endif %}

select
    first_messages.*,
    {{ tp_timestamp_literal(run_started_at) }} as loaded_at
from first_messages
{%- if is_incremental() %}
where
    not exists (
        select 1 from already_stored
        where already_stored.event_id = first_messages.event_id
    )
{%- endif %}
