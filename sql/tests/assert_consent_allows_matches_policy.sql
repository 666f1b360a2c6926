-- consent_allows() gives the answers of allows() in src/core/consent.ts: a purpose needs its column true (NULL is
-- not consent), ad_user_data and ad_personalization also need ads, and no purposes is always allowed.
{%- set purposes = ['analytics', 'ads', 'ad_user_data', 'ad_personalization'] %}

with

cases as (
    -- analytics, ads, ad_user_data, ad_personalization → expected for each purpose in the same order, then none
    {%- set rows = [
        ['true', 'true', 'true', 'true', [true, true, true, true]],
        ['true', 'false', 'true', 'true', [true, false, false, false]],
        ['true', 'true', 'false', 'true', [true, true, false, true]],
        ['null', 'null', 'null', 'null', [false, false, false, false]],
        ['false', 'true', 'true', 'false', [false, true, true, false]],
    ] %}
    {%- for row in rows %}
    select
        {{ loop.index }} as case_id,
        cast({{ row[0] }} as {{ dbt.type_boolean() }}) as consent_analytics,
        cast({{ row[1] }} as {{ dbt.type_boolean() }}) as consent_ads,
        cast({{ row[2] }} as {{ dbt.type_boolean() }}) as consent_ad_user_data,
        cast({{ row[3] }} as {{ dbt.type_boolean() }}) as consent_ad_personalization,
        {%- for expected in row[4] %}
        {{ 'true' if expected else 'false' }} as expected_{{ purposes[loop.index0] }},
        {%- endfor %}
        true as expected_none
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select case_id from cases
where
    {%- for p in purposes %}
    {{ consent_allows([p]) }} != expected_{{ p }} or
    {%- endfor %}
    {{ consent_allows([]) }} != expected_none
