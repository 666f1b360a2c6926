{#
  Audiences: each is one model, models/marts/audiences/aud_<name>.sql, selecting (person_id, qualified_at), and
  listed in the `tagpipe_audiences` var. audience_members unions them with tp_union_audiences().
#}
{% macro tp_union_audiences() -%}
  {%- set names = var('tagpipe_audiences') -%}
  {%- if execute and graph.get('nodes') -%}
    {#- (unit tests compile without the graph.) An audience model that is not listed would silently never sync: fail loudly instead. -#}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name.startswith('aud_') -%}
      {%- if node.name[4:] not in names -%}
        {{ exceptions.raise_compiler_error('Audience model ' ~ node.name ~ ' is not listed in the tagpipe_audiences var (dbt_project.yml): add "' ~ node.name[4:] ~ '" there.') }}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- for name in names %}
    select
        '{{ name }}' as audience_id,
        person_id,
        qualified_at
    from {{ ref('aud_' ~ name) }}
    where person_id is not null
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}
