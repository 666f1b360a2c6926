{#
  Every SQL difference between DuckDB (local) and BigQuery (prod) lives here, dispatched per adapter, so models
  are dialect-free. Each macro has a default__ (DuckDB-flavoured, also the fallback) and a bigquery__ variant.
#}

{# Selects `passthrough` columns plus one typed column per field from JSON column `json_col` of CTE `from_cte`.
   fields: list of {name, path, type} with type in string | bool | int | double | timestamp | json. #}
{% macro tp_json_fields(from_cte, json_col, fields, passthrough) -%}
  {{ return(adapter.dispatch('tp_json_fields', 'tagpipe')(from_cte, json_col, fields, passthrough)) }}
{%- endmacro %}

{% macro default__tp_json_fields(from_cte, json_col, fields, passthrough) -%}
{#- DuckDB parses a JSON document once per json_extract call; the list forms parse it once for all paths. -#}
{%- set scalars = fields | rejectattr('type', 'equalto', 'json') | list -%}
{%- set objects = fields | selectattr('type', 'equalto', 'json') | list -%}
select
    {%- for col in passthrough %}
    {{ col }},
    {%- endfor %}
    {%- for f in scalars %}
    {{ tp_cast_json_text('_tp_s[' ~ loop.index ~ ']', f.type) }} as {{ f.name }},
    {%- endfor %}
    {%- for f in objects %}
    _tp_j[{{ loop.index }}] as {{ f.name }}{{ ',' if not loop.last }}
    {%- endfor %}
from (
    select
        {%- for col in passthrough %}
        {{ col }},
        {%- endfor %}
        json_extract_string(cast({{ json_col }} as varchar), [
            {%- for f in scalars %}'{{ f.path }}'{{ ', ' if not loop.last }}{% endfor -%}
        ]) as _tp_s,
        json_extract(cast({{ json_col }} as varchar), [
            {%- for f in objects %}'{{ f.path }}'{{ ', ' if not loop.last }}{% endfor -%}
        ]) as _tp_j
    from {{ from_cte }}
) as _tp_parsed
{%- endmacro %}

{% macro bigquery__tp_json_fields(from_cte, json_col, fields, passthrough) -%}
{#- raw.events.data is a JSON column (BigQuery subscription); JSON_VALUE / JSON_QUERY read it without re-parsing. -#}
select
    {%- for col in passthrough %}
    {{ col }},
    {%- endfor %}
    {%- for f in fields %}
    {%- if f.type == 'json' %}
    json_query({{ json_col }}, '{{ f.path }}') as {{ f.name }}{{ ',' if not loop.last }}
    {%- else %}
    {{ tp_cast_json_text("json_value(" ~ json_col ~ ", '" ~ f.path ~ "')", f.type) }} as {{ f.name }}{{ ',' if not loop.last }}
    {%- endif %}
    {%- endfor %}
from {{ from_cte }}
{%- endmacro %}

{# Casts JSON scalar text to a column type; bad values become NULL instead of failing the run. #}
{% macro tp_cast_json_text(expr, type) -%}
  {{ return(adapter.dispatch('tp_cast_json_text', 'tagpipe')(expr, type)) }}
{%- endmacro %}

{% macro default__tp_cast_json_text(expr, type) -%}
  {%- if type == 'string' -%} {{ expr }}
  {%- elif type == 'bool' -%} try_cast({{ expr }} as boolean)
  {%- elif type == 'int' -%} try_cast({{ expr }} as bigint)
  {%- elif type == 'double' -%} try_cast({{ expr }} as double)
  {%- elif type == 'timestamp' -%} try_cast({{ expr }} as timestamptz)
  {%- else -%} {{ exceptions.raise_compiler_error('tp_cast_json_text: unknown type ' ~ type) }}
  {%- endif -%}
{%- endmacro %}

{% macro bigquery__tp_cast_json_text(expr, type) -%}
  {%- if type == 'string' -%} {{ expr }}
  {%- elif type == 'bool' -%} safe_cast({{ expr }} as bool)
  {%- elif type == 'int' -%} safe_cast({{ expr }} as int64)
  {%- elif type == 'double' -%} safe_cast({{ expr }} as float64)
  {%- elif type == 'timestamp' -%} safe_cast({{ expr }} as timestamp)
  {%- else -%} {{ exceptions.raise_compiler_error('tp_cast_json_text: unknown type ' ~ type) }}
  {%- endif -%}
{%- endmacro %}

{# A UTC timestamp literal from a Python datetime or an ISO string. #}
{% macro tp_timestamp_literal(value) -%}
  {%- if value is string -%}
    {%- set text = value -%}
  {%- else -%}
    {%- if value.tzinfo is not none -%}
      {%- set value = value.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    {%- endif -%}
    {%- set text = value.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
  {%- endif -%}
  {{ return(adapter.dispatch('tp_timestamp_literal', 'tagpipe')(text)) }}
{%- endmacro %}

{% macro default__tp_timestamp_literal(text) -%}
  cast('{{ text }}+00' as timestamptz)
{%- endmacro %}

{% macro bigquery__tp_timestamp_literal(text) -%}
  timestamp('{{ text }}+00')
{%- endmacro %}

{# Milliseconds since the Unix epoch, as an integer. #}
{% macro tp_epoch_ms(expr) -%}
  {{ return(adapter.dispatch('tp_epoch_ms', 'tagpipe')(expr)) }}
{%- endmacro %}

{% macro default__tp_epoch_ms(expr) -%} epoch_ms({{ expr }}) {%- endmacro %}

{% macro bigquery__tp_epoch_ms(expr) -%} unix_millis({{ expr }}) {%- endmacro %}

{# Lowercase hex SHA-256 of a string (the hashed-identifier format of docs/marts.md). #}
{% macro tp_sha256_hex(expr) -%}
  {{ return(adapter.dispatch('tp_sha256_hex', 'tagpipe')(expr)) }}
{%- endmacro %}

{% macro default__tp_sha256_hex(expr) -%} sha256({{ expr }}) {%- endmacro %}

{% macro bigquery__tp_sha256_hex(expr) -%} to_hex(sha256({{ expr }})) {%- endmacro %}

{# Aggregate: JSON array of the distinct non-null values of expr, sorted. #}
{% macro tp_json_array_agg_distinct(expr) -%}
  {{ return(adapter.dispatch('tp_json_array_agg_distinct', 'tagpipe')(expr)) }}
{%- endmacro %}

{% macro default__tp_json_array_agg_distinct(expr) -%}
  to_json(coalesce(list(distinct {{ expr }} order by {{ expr }}) filter (where {{ expr }} is not null), []))
{%- endmacro %}

{% macro bigquery__tp_json_array_agg_distinct(expr) -%}
  to_json(array_agg(distinct {{ expr }} ignore nulls order by {{ expr }}))
{%- endmacro %}

{# Aggregate: the value of expr on the row with the greatest order_by, ignoring rows where expr is null. #}
{% macro tp_last_value_agg(expr, order_by) -%}
  {{ return(adapter.dispatch('tp_last_value_agg', 'tagpipe')(expr, order_by)) }}
{%- endmacro %}

{% macro default__tp_last_value_agg(expr, order_by) -%}
  arg_max({{ expr }}, {{ order_by }}) filter (where {{ expr }} is not null)
{%- endmacro %}

{% macro bigquery__tp_last_value_agg(expr, order_by) -%}
  array_agg({{ expr }} ignore nulls order by {{ order_by }} desc limit 1)[safe_offset(0)]
{%- endmacro %}

{# Aggregate: the value of expr on the row with the smallest order_by (nulls in expr kept). #}
{% macro tp_first_value_agg(expr, order_by) -%}
  {{ return(adapter.dispatch('tp_first_value_agg', 'tagpipe')(expr, order_by)) }}
{%- endmacro %}

{% macro default__tp_first_value_agg(expr, order_by) -%}
  arg_min({{ expr }}, {{ order_by }})
{%- endmacro %}

{% macro bigquery__tp_first_value_agg(expr, order_by) -%}
  array_agg(struct({{ expr }} as v) order by {{ order_by }} limit 1)[offset(0)].v
{%- endmacro %}

{# The column type for JSON values. #}
{% macro tp_type_json() -%}
  {{ return(adapter.dispatch('tp_type_json', 'tagpipe')()) }}
{%- endmacro %}

{% macro default__tp_type_json() -%} json {%- endmacro %}

{% macro bigquery__tp_type_json() -%} json {%- endmacro %}

{# Incremental strategy that fits the upsert models: BigQuery merges; DuckDB deletes the keys, then inserts. #}
{% macro tp_upsert_strategy() -%}
  {{ return(adapter.dispatch('tp_upsert_strategy', 'tagpipe')()) }}
{%- endmacro %}

{% macro default__tp_upsert_strategy() -%} delete+insert {%- endmacro %}

{% macro bigquery__tp_upsert_strategy() -%} merge {%- endmacro %}

{# Incremental strategy for insert-only models (new keys only, checked by the model itself). #}
{% macro tp_append_strategy() -%}
  {{ return(adapter.dispatch('tp_append_strategy', 'tagpipe')()) }}
{%- endmacro %}

{% macro default__tp_append_strategy() -%} append {%- endmacro %}

{#- dbt-bigquery has no append strategy; merge with no matching keys inserts only. -#}
{% macro bigquery__tp_append_strategy() -%} merge {%- endmacro %}

{# The date n days before today (UTC). #}
{% macro tp_date_days_ago(n) -%}
  {{ return(adapter.dispatch('tp_date_days_ago', 'tagpipe')(n)) }}
{%- endmacro %}

{% macro default__tp_date_days_ago(n) -%} cast(current_date - interval ({{ n }}) day as date) {%- endmacro %}

{% macro bigquery__tp_date_days_ago(n) -%} date_sub(current_date(), interval {{ n }} day) {%- endmacro %}

{#
  tp_storage_order(column): how a model's rows are laid out for time-bounded reads. DuckDB keeps min/max per row
  group, so rows written in `column` order let a `column >= literal` filter skip the history; BigQuery gets the same
  from the model's partitioning, and an ORDER BY there would only cost a sort.
#}
{% macro tp_storage_order(column) -%}
  {{ return(adapter.dispatch('tp_storage_order', 'tagpipe')(column)) }}
{%- endmacro %}

{% macro default__tp_storage_order(column) -%} order by {{ column }} {%- endmacro %}

{% macro bigquery__tp_storage_order(column) -%} {%- endmacro %}
