-- One row per person: identifiers, latest traits, activity and value, and their latest consent. Rolled up from
-- int_node_activity through identities (no event scan), so a re-stitch regroups history on the next run.
-- Incremental: only the people a run touched (macros/people.sql: new activity or a re-stitch) are rolled up again
-- and upserted by person_id; people a merge or split dissolved are deleted first (pre_hook).
{{ tp_person_mart_config() }}

with

{%- if is_incremental() %}

touched as (
    {{ tp_touched_people(tp_refresh_mark()) }}
),
{%- endif %}

identities as (
    select
        node,
        identifier_type,
        identifier,
        person_id,
        last_seen_at
    from {{ ref('identities') }}
    {%- if is_incremental() %}
    where person_id in (select person_id from touched)
    {%- endif %}
),

activity as (
    select
        identities.person_id,
        min(activity.first_seen_at) as first_seen_at,
        max(activity.last_seen_at) as last_seen_at,
        sum(activity.event_count) as event_count,
        {{ tp_last_value_agg('activity.trait_email', 'activity.trait_email_at') }} as email,
        {{ tp_last_value_agg('activity.trait_phone', 'activity.trait_phone_at') }} as phone,
        {{ tp_last_value_agg('activity.trait_first_name', 'activity.trait_first_name_at') }} as first_name,
        {{ tp_last_value_agg('activity.trait_last_name', 'activity.trait_last_name_at') }} as last_name,
        {{ tp_last_value_agg('activity.email_sha256', 'activity.email_sha256_at') }} as email_sha256,
        {{ tp_last_value_agg('activity.phone_sha256', 'activity.phone_sha256_at') }} as phone_sha256,
        {{ tp_last_value_agg('activity.country', 'activity.country_at') }} as country,
        {{ tp_last_value_agg('activity.identify_traits', 'activity.identify_traits_at') }} as traits
    from {{ ref('int_node_activity') }} as activity
    inner join identities on activity.node = identities.node
    group by identities.person_id
),

ids as (
    select
        person_id,
        {{ tp_last_value_agg("case when identifier_type = 'user_id' then identifier end", 'last_seen_at') }}
            as user_id,
        {{ tp_json_array_agg_distinct("case when identifier_type = 'anonymous_id' then identifier end") }}
            as anonymous_ids
    from identities
    group by person_id
),

-- int_conversions, not the conversions view: the view's session join is not needed here.
purchases as (
    select
        identities.person_id,
        count(*) as purchase_count,
        sum(coalesce(conversions.value, 0)) as lifetime_value,
        max(conversions.occurred_at) as last_purchase_at
    from {{ ref('int_conversions') }} as conversions
    inner join identities on {{ tp_primary_node('conversions') }} = identities.node
    where conversions.conversion_type = 'purchase'
    group by identities.person_id
),

consent_state as (
    select * from {{ ref('consent_state') }}
    {%- if is_incremental() %}
    where person_id in (select person_id from touched)
    {%- endif %}
)

select
    activity.person_id,
    ids.user_id,
    ids.anonymous_ids,
    activity.email,
    activity.phone,
    activity.first_name,
    activity.last_name,
    coalesce(activity.email_sha256, {{ tp_sha256_hex('lower(trim(activity.email))') }}) as email_sha256,
    activity.phone_sha256,
    activity.country,
    activity.traits,
    activity.first_seen_at,
    activity.last_seen_at,
    activity.event_count,
    coalesce(purchases.purchase_count, 0) as purchase_count,
    coalesce(purchases.lifetime_value, 0) as lifetime_value,
    purchases.last_purchase_at,
    {{ consent_columns('consent_state') }},
    {{ tp_timestamp_literal(run_started_at) }} as _tp_refreshed_at
from activity
inner join ids on activity.person_id = ids.person_id
left join purchases on activity.person_id = purchases.person_id
left join consent_state on activity.person_id = consent_state.person_id
