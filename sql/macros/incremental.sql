{#
  tp_low_watermark(column): the timestamp literal an incremental model reads its input from:
  max(column) already in {{ this }} minus the `tagpipe_lookback_hours` var. A literal (not a subquery) so
  BigQuery prunes partitions and DuckDB prunes Parquet row groups: cost follows the new data, not the history.
#}
{% macro tp_low_watermark(column) -%}
  {%- set high = tp_max_in_this(column) -%}
  {%- if high is none -%}
    {{ return(tp_timestamp_literal('1970-01-01 00:00:00')) }}
  {%- endif -%}
  {%- if high is string -%}
    {%- set high = modules.datetime.datetime.fromisoformat(high) -%}
  {%- endif -%}
  {{ return(tp_timestamp_literal(high - modules.datetime.timedelta(hours=var('tagpipe_lookback_hours') | int))) }}
{%- endmacro %}

{# Reference time for audience windows: the `tagpipe_as_of` var, or now. #}
{% macro tp_as_of() -%}
  {%- set as_of = var('tagpipe_as_of', none) -%}
  {%- if as_of -%} {{ tp_timestamp_literal(as_of) }} {%- else -%} {{ dbt.current_timestamp() }} {%- endif -%}
{%- endmacro %}

{#
  is_incremental(), overridden so the project compiles with no warehouse to ask (the BigQuery SQL check in CI):
  with the `tagpipe_offline_incremental` var set to true or false, models take that branch without introspection.
#}
{% macro is_incremental() -%}
  {%- set forced = var('tagpipe_offline_incremental', none) -%}
  {%- if forced is not none -%}
    {{ return(forced in [true, 'true', 'True', 1]) }}
  {%- endif -%}
  {{ return(dbt.is_incremental()) }}
{%- endmacro %}

{#
  tp_high_watermark(column): max(column) already in {{ this }} as a literal (1970 when empty). Models that
  aggregate exactly the rows int_events_deduped inserted since their last run read `loaded_at > this literal`.
#}
{% macro tp_high_watermark(column) -%}
  {%- set high = tp_max_in_this(column) -%}
  {{ return(tp_timestamp_literal(high if high is not none else '1970-01-01 00:00:00')) }}
{%- endmacro %}

{#
  tp_max_in_this(column): max(column) already in {{ this }}, as the warehouse returns it; none when the table is
  empty, and when compiling offline (no warehouse to ask).
#}
{% macro tp_max_in_this(column) -%}
  {%- if not execute or var('tagpipe_offline_incremental', none) is not none -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(run_query('select max(' ~ column ~ ') from ' ~ this).columns[0].values()[0]) }}
{%- endmacro %}

{# The identity-graph node an event is attributed to: its user_id, else its email_sha256, else its anonymous_id. #}
{% macro tp_primary_node(alias=none) -%}
  {%- set p = alias ~ '.' if alias else '' -%}
  case
        when {{ p }}user_id is not null then 'user_id:' || {{ p }}user_id
        when {{ p }}email_sha256 is not null then 'email_sha256:' || {{ p }}email_sha256
        when {{ p }}anonymous_id is not null then 'anonymous_id:' || {{ p }}anonymous_id
    end
{%- endmacro %}

{#
  tp_min_value(relation, column, where): min(column) over the rows matching `where`, as a date literal; a date
  past every row when none match (nothing to compare), and 1970-01-01 when compiling offline.
#}
{% macro tp_min_value(relation, column, where) -%}
  {%- if not execute or var('tagpipe_offline_incremental', none) is not none -%}
    {{ return("cast('1970-01-01' as date)") }}
  {%- endif -%}
  {%- set low = run_query('select min(' ~ column ~ ') from ' ~ relation ~ ' where ' ~ where).columns[0].values()[0] -%}
  {{ return("cast('" ~ (low.strftime('%Y-%m-%d') if low is not none else '9999-12-31') ~ "' as date)") }}
{%- endmacro %}

{#
  tp_session_window_from(relation, read_after): int_sessionized_events re-reads its stored events from this time on:
  the earliest new event without a GA4 sid (loaded_at > read_after) minus the session timeout, as a literal (so
  the read prunes row groups and partitions). Far in the future when no such event is new.
#}
{% macro tp_session_window_from(relation, read_after) -%}
  {%- if not execute or var('tagpipe_offline_incremental', none) is not none -%}
    {{ return(tp_timestamp_literal('1970-01-01 00:00:00')) }}
  {%- endif -%}
  {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
  {%- if 'session_started_at' not in names -%}
    {{ exceptions.raise_compiler_error(this ~ ' was built by an older version of the models (no session_started_at): rebuild it once with dbt run --full-refresh --select int_sessionized_events+') }}
  {%- endif -%}
  {%- set low = run_query(
      'select min(occurred_at) from ' ~ relation ~ ' where loaded_at > ' ~ read_after
      ~ ' and anonymous_id is not null and session_id is null'
  ).columns[0].values()[0] -%}
  {%- if low is none -%}
    {{ return(tp_timestamp_literal('9999-12-31 00:00:00')) }}
  {%- endif -%}
  {%- if low is string -%}
    {%- set low = modules.datetime.datetime.fromisoformat(low) -%}
  {%- endif -%}
  {{ return(tp_timestamp_literal(low - modules.datetime.timedelta(minutes=var('tagpipe_session_timeout_minutes') | int))) }}
{%- endmacro %}

{#
  tp_mark(column): max(column) in {{ this }} as a literal, for models that mark the rows each run writes. A table
  built before the column existed gives 1970: everything is rolled up once and the column is added
  (on_schema_change='append_new_columns').
#}
{% macro tp_mark(column) -%}
  {%- if not execute or var('tagpipe_offline_incremental', none) is not none -%}
    {{ return(tp_timestamp_literal('1970-01-01 00:00:00')) }}
  {%- endif -%}
  {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
  {%- if column | lower not in names -%}
    {{ return(tp_timestamp_literal('1970-01-01 00:00:00')) }}
  {%- endif -%}
  {{ return(tp_high_watermark(column)) }}
{%- endmacro %}
