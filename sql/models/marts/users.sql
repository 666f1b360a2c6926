-- One row per person: identifiers, latest traits, activity and value, and their latest consent.
with

identities as (
    select * from {{ ref('identities') }}
),

events as (
    select * from {{ ref('events') }}
    where person_id is not null
),

activity as (
    select
        person_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as event_count,
        {{ tp_last_value_agg('trait_email', 'occurred_at') }} as email,
        {{ tp_last_value_agg('trait_phone', 'occurred_at') }} as phone,
        {{ tp_last_value_agg('trait_first_name', 'occurred_at') }} as first_name,
        {{ tp_last_value_agg('trait_last_name', 'occurred_at') }} as last_name,
        {{ tp_last_value_agg('email_sha256', 'occurred_at') }} as email_sha256,
        {{ tp_last_value_agg('phone_sha256', 'occurred_at') }} as phone_sha256,
        {{ tp_last_value_agg('country', 'occurred_at') }} as country,
        {{ tp_last_value_agg("case when type = 'identify' then traits end", 'occurred_at') }} as traits
    from events
    group by person_id
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

purchases as (
    select
        person_id,
        count(*) as purchase_count,
        sum(coalesce(value, 0)) as lifetime_value,
        max(occurred_at) as last_purchase_at
    from {{ ref('conversions') }}
    where conversion_type = 'purchase' and person_id is not null
    group by person_id
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
    {{ consent_columns('consent_state') }}
from activity
inner join ids on ids.person_id = activity.person_id
left join purchases on purchases.person_id = activity.person_id
left join {{ ref('consent_state') }} as consent_state on consent_state.person_id = activity.person_id
