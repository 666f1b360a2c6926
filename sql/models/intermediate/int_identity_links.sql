-- Identity graph edges: every pair of identifiers seen on one event (anonymous_id, user_id, email_sha256), plus a
-- self-link per identifier so identifiers seen alone are nodes too. Only events with analytics consent carry
-- identifiers (the collector drops them otherwise); the filter keeps it so here as well.
-- Incremental upsert by link_key over exactly the events int_events_deduped inserted since the last run (loaded_at:
-- those rows sit at the end of the table, so the read skips the history); first/last seen are min/max, so reading
-- an event twice would change nothing either.
{{
    config(
        materialized='incremental',
        unique_key='link_key',
        incremental_strategy=tp_upsert_strategy(),
        on_schema_change='append_new_columns',
        cluster_by=(['node_a'] if target.type == 'bigquery' else none),
    )
}}

{%- set read_after = tp_mark('loaded_at') if is_incremental()
    else tp_timestamp_literal('1970-01-01 00:00:00') %}
with

batch as (
    select
        'anonymous_id:' || anonymous_id as anonymous_node,
        'user_id:' || user_id as user_node,
        'email_sha256:' || email_sha256 as email_node,
        occurred_at,
        published_at,
        loaded_at
    from {{ ref('int_events_deduped') }}
    where
        {{ consent_allows(['analytics']) }}
        and loaded_at > {{ read_after }}
),

pairs as (
    select
        anonymous_node as node_a,
        user_node as node_b,
        occurred_at,
        published_at,
        loaded_at
    from batch
    where anonymous_node is not null and user_node is not null
    union all
    select
        anonymous_node as node_a,
        email_node as node_b,
        occurred_at,
        published_at,
        loaded_at
    from batch
    where anonymous_node is not null and email_node is not null
    union all
    select
        user_node as node_a,
        email_node as node_b,
        occurred_at,
        published_at,
        loaded_at
    from batch
    where user_node is not null and email_node is not null
    union all
    select
        anonymous_node as node_a,
        anonymous_node as node_b,
        occurred_at,
        published_at,
        loaded_at
    from batch
    where anonymous_node is not null
    union all
    select
        user_node as node_a,
        user_node as node_b,
        occurred_at,
        published_at,
        loaded_at
    from batch
    where user_node is not null
    union all
    select
        email_node as node_a,
        email_node as node_b,
        occurred_at,
        published_at,
        loaded_at
    from batch
    where email_node is not null
),

new_links as (
    select
        node_a || '|' || node_b as link_key,
        node_a,
        node_b,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        max(published_at) as published_at,
        max(loaded_at) as loaded_at
    from pairs
    group by node_a, node_b
)

{%- if is_incremental() %},

merged as (
    select * from new_links
    union all
    select
        link_key,
        node_a,
        node_b,
        first_seen_at,
        last_seen_at,
        published_at,
        loaded_at
    from {{ this }}
    where link_key in (select link_key from new_links)
)

select
    link_key,
    node_a,
    node_b,
    min(first_seen_at) as first_seen_at,
    max(last_seen_at) as last_seen_at,
    max(published_at) as published_at,
    max(loaded_at) as loaded_at
from merged
group by link_key, node_a, node_b
{%- else %}

select * from new_links
{%- endif %}
