{#
  int_sessions is incremental over the sessions int_sessionized_events wrote rows for since int_sessions' last run
  (`_tp_sessionized_at` on both). New events only join or extend sessions; a session that a new event joined to an
  earlier one is gone, and its row must be deleted.
#}

{#
  The earliest event time int_sessions must read: the earliest start among the sessions to aggregate again (their
  stored rows, and the rows written since `since`), as a literal.
#}
{% macro tp_sessions_read_from(since) -%}
  {%- if not execute or var('tagpipe_offline_incremental', none) is not none -%}
    {{ return(tp_timestamp_literal('1970-01-01 00:00:00')) }}
  {%- endif -%}
  {%- set written -%}
    select session_key, coalesce(session_started_at, occurred_at) as started_at
    from {{ ref('int_sessionized_events') }}
    where _tp_sessionized_at > {{ since }}
  {%- endset -%}
  {%- set low = run_query(
      'select min(started_at) from (select min(started_at) as started_at from (' ~ written ~ ') as w'
      ~ ' union all select min(started_at) from ' ~ this
      ~ ' where session_key in (select session_key from (' ~ written ~ ') as k)) as lows'
  ).columns[0].values()[0] -%}
  {%- if low is none -%}
    {{ return(tp_timestamp_literal('9999-12-31 00:00:00')) }}
  {%- endif -%}
  {{ return(tp_timestamp_literal(low)) }}
{%- endmacro %}

{#
  pre_hook of int_sessions: deletes sessions that no longer exist. An inactivity session's key is the hash of its
  device and first event time; a session that was merged away had its first event rewritten, and that event now
  belongs to a session with another key. GA4-sid sessions keep their key.
#}
{% macro tp_delete_merged_sessions() -%}
  {%- if execute and is_incremental() -%}
    delete from {{ this }}
    where session_key in (
        select own_key from (
            select
                session_key,
                substr({{ tp_sha256_hex(
                    "anonymous_id || ':t:' || cast(" ~ tp_epoch_ms('occurred_at') ~ " as " ~ dbt.type_string() ~ ")"
                ) }}, 1, 32) as own_key
            from {{ ref('int_sessionized_events') }}
            where session_id is null and _tp_sessionized_at > {{ tp_mark('_tp_sessionized_at') }}
        ) as rewritten
        where own_key != session_key
    )
  {%- endif -%}
{%- endmacro %}
