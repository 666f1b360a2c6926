{#
  consent_allows(purposes, alias): the SQL twin of `allows(consent, purposes)` in src/core/consent.ts.
  A purpose is allowed only when its consent column is true (NULL = not granted). Same table as `purposesFor`:

  | Declared             | Needs                                       |
  |----------------------|---------------------------------------------|
  | analytics            | consent_analytics                           |
  | ads                  | consent_ads                                 |
  | ad_user_data         | consent_ads AND consent_ad_user_data        |
  | ad_personalization   | consent_ads AND consent_ad_personalization  |
  | nothing              | always allowed                              |
#}
{% macro consent_allows(purposes, alias=none) -%}
  {%- set known = ['analytics', 'ads', 'ad_user_data', 'ad_personalization'] -%}
  {%- set purposes = [purposes] if purposes is string else purposes -%}
  {%- set wanted = [] -%}
  {%- for p in purposes -%}
    {%- if p not in known -%}
      {{ exceptions.raise_compiler_error('consent_allows: unknown purpose ' ~ p ~ ' (expected one of ' ~ known | join(', ') ~ ')') }}
    {%- endif -%}
    {%- do wanted.append(p) -%}
    {%- if p in ['ad_user_data', 'ad_personalization'] -%}{%- do wanted.append('ads') -%}{%- endif -%}
  {%- endfor -%}
  {%- set prefix = alias ~ '.' if alias else '' -%}
  {%- set needed = [] -%}
  {%- for p in known if p in wanted -%}
    {%- do needed.append('coalesce(' ~ prefix ~ 'consent_' ~ p ~ ', false)') -%}
  {%- endfor -%}
  {%- if needed | length == 0 -%} true {%- else -%} ({{ needed | join(' and ') }}) {%- endif -%}
{%- endmacro %}

{# The consent columns every mart row carries (docs/marts.md), from a relation alias. #}
{% macro consent_columns(alias=none) -%}
  {%- set prefix = alias ~ '.' if alias else '' -%}
  {{ prefix }}consent_analytics,
  {{ prefix }}consent_ads,
  {{ prefix }}consent_ad_user_data,
  {{ prefix }}consent_ad_personalization,
  {{ prefix }}consent_source
{%- endmacro %}
