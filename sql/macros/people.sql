{#
  Per-person marts (users, consent_state) are incremental over the people a run touched. Each row carries
  `_tp_refreshed_at`, the run that last rolled it up; the next run re-rolls exactly:
  - people with new activity: a node of int_node_activity loaded after that time, and
  - people re-stitched: an identities row written after that time (`_tp_stitched_at`; identities rewrites every
    identifier of every person a new link touches, so a merge or a split rewrites all members of both sides).
  A person that a merge or split dissolved has no identifier left: its row is deleted (tp_delete_gone_people).
  Columns starting with `_tp_` are bookkeeping; syncs never read them (src/sync/planner.ts).
#}

{# Person ids the run must roll up again: people with activity or a re-stitch after `since`. #}
{% macro tp_touched_people(since) -%}
    select identities.person_id
    from {{ ref('identities') }} as identities
    where identities._tp_stitched_at > {{ since }}
    union distinct
    select identities.person_id
    from {{ ref('int_node_activity') }} as activity
    inner join {{ ref('identities') }} as identities on activity.node = identities.node
    where activity.loaded_at > {{ since }}
{%- endmacro %}

{#
  Person ids that no longer exist. A person_id is the hash of its oldest identifier (identities.sql); a person
  dissolves only in a re-stitch, which rewrites that identifier too. So: for every identifier re-stitched after
  `since`, the person it would root, when that identifier now belongs to another person.
#}
{% macro tp_gone_people(since) -%}
    select own_person_id as person_id
    from (
        select
            person_id,
            substr({{ tp_sha256_hex("'person:' || node") }}, 1, 32) as own_person_id
        from {{ ref('identities') }}
        where _tp_stitched_at > {{ since }}
    ) as restitched
    where own_person_id != person_id
{%- endmacro %}

{#
  pre_hook of the per-person marts: deletes the rows of dissolved people before the upsert (an upsert only writes
  the keys it selects, on BigQuery's MERGE as on DuckDB's delete+insert). Runs before the model, so `since` is
  still the previous run's mark.
#}
{% macro tp_delete_gone_people() -%}
    {%- if execute and is_incremental() -%}
        delete from {{ this }}
        where person_id in ({{ tp_gone_people(tp_refresh_mark()) }})
    {%- endif -%}
{%- endmacro %}

{# The previous run's mark in {{ this }}: max `_tp_refreshed_at` (tp_mark). #}
{% macro tp_refresh_mark() -%}
    {{ return(tp_mark('_tp_refreshed_at')) }}
{%- endmacro %}

{#
  The config both per-person marts share: upserted by person_id, dissolved people deleted first (pre_hook), and the
  `_tp_refreshed_at` column added to tables built before it existed.
#}
{% macro tp_person_mart_config() -%}
    {{ config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy=tp_upsert_strategy(),
        on_schema_change='append_new_columns',
        cluster_by=(['person_id'] if target.type == 'bigquery' else none),
        pre_hook="{{ tp_delete_gone_people() }}",
    ) }}
{%- endmacro %}
