-- One row per identifier (anonymous_id, user_id, email_sha256) with the person it belongs to.
-- Connected components of int_identity_links by label propagation: every node starts with its own rank (oldest
-- first) and takes the smallest rank among its neighbours, `tagpipe_stitch_max_depth` times. The person_id is a
-- hash of the component's oldest identifier, so it stays put when a new device joins an existing person.
-- Over-merge guard: an anonymous_id or email_sha256 linked to more than `tagpipe_max_user_ids_per_identifier`
-- distinct user_ids (a shared device or inbox) keeps its own person and links nobody.
-- Incremental: a run re-stitches only the people a new or updated link touches (all their identifiers, so a new
-- link merges whole people and a newly over-linked identifier splits them); upsert by node. A non-excluded link
-- never leaves a person, so people outside that scope cannot change. `_tp_stitched_at` marks the rows a run wrote.
{{
    config(
        materialized='incremental',
        unique_key='node',
        incremental_strategy=tp_upsert_strategy(),
        cluster_by=(['node'] if target.type == 'bigquery' else none),
        on_schema_change='append_new_columns',
    )
}}
{%- set depth = var('tagpipe_stitch_max_depth') | int %}

with

{%- if is_incremental() %}

new_links as (
    select
        node_a,
        node_b
    from {{ ref('int_identity_links') }}
    where published_at >= {{ tp_low_watermark('published_at') }}
),

touched_nodes as (
    select node_a as node from new_links
    union distinct
    select node_b as node from new_links
),

scope as (
    select node from touched_nodes
    union distinct
    select node from {{ this }}
    where person_id in (
        select person_id from {{ this }}
        where node in (select node from touched_nodes)
    )
),
{%- endif %}

links as (
    select
        node_a,
        node_b,
        first_seen_at,
        last_seen_at,
        published_at
    from {{ ref('int_identity_links') }}
    {%- if is_incremental() %}
    where
        node_a in (select node from scope)
        or node_b in (select node from scope)
    {%- endif %}
),

nodes as (
    select
        node,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        max(published_at) as published_at
    from (
        select
            node_a as node,
            first_seen_at,
            last_seen_at,
            published_at
        from links
        union all
        select
            node_b as node,
            first_seen_at,
            last_seen_at,
            published_at
        from links
    ) as ends
    {%- if is_incremental() %}
    where node in (select node from scope)
    {%- endif %}
    group by node
),

edges as (
    select
        node_a,
        node_b
    from links
    where node_a != node_b
    union all
    select
        node_b as node_a,
        node_a as node_b
    from links
    where node_a != node_b
),

user_id_degree as (
    select
        node_a as node,
        count(distinct node_b) as user_ids
    from edges
    where node_b like 'user_id:%'
    group by node_a
),

excluded as (
    select node from user_id_degree
    where user_ids > {{ var('tagpipe_max_user_ids_per_identifier') | int }}
),

stitch_edges as (
    select
        node_a,
        node_b
    from edges
    where
        node_a not in (select node from excluded)
        and node_b not in (select node from excluded)
        and node_a in (select node from nodes)
        and node_b in (select node from nodes)
    union all
    select
        node as node_a,
        node as node_b
    from nodes
),

ranked as (
    select
        node,
        row_number() over (order by first_seen_at, node) as node_rank
    from nodes
),

labels_0 as (
    select
        node,
        node_rank as node_label
    from ranked
),

{%- for i in range(1, depth + 1) %}

labels_{{ i }} as (
    select
        stitch_edges.node_a as node,
        min(labels_{{ i - 1 }}.node_label) as node_label
    from stitch_edges
    inner join labels_{{ i - 1 }} on labels_{{ i - 1 }}.node = stitch_edges.node_b
    group by stitch_edges.node_a
),
{%- endfor %}

components as (
    select
        labels.node,
        roots.node as root_node
    from labels_{{ depth }} as labels
    inner join ranked as roots on labels.node_label = roots.node_rank
)

select
    nodes.node,
    substr(nodes.node, 1, strpos(nodes.node, ':') - 1) as identifier_type,
    substr(nodes.node, strpos(nodes.node, ':') + 1) as identifier,
    substr({{ tp_sha256_hex("'person:' || components.root_node") }}, 1, 32) as person_id,
    nodes.first_seen_at,
    nodes.last_seen_at,
    nodes.published_at,
    nodes.node in (select node from excluded) as is_stitching_excluded,
    -- The run that wrote this row (every identifier of a re-stitched person is rewritten): users and
    -- consent_state re-roll the people stitched after their own last run (macros/people.sql).
    {{ tp_timestamp_literal(run_started_at) }} as _tp_stitched_at
from nodes
inner join components on nodes.node = components.node
