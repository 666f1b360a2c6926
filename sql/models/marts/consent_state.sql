-- The latest consent per person (by event time): a withdrawal in the newest event wins, and every ads mart joins
-- this table, so withdrawal propagates to audiences on the next run. Rolled up from int_node_activity through
-- identities, so re-stitching moves consent with the identifiers.
select
    identities.person_id,
    {{ tp_last_value_agg('activity.consent_analytics', 'activity.consent_at') }} as consent_analytics,
    {{ tp_last_value_agg('activity.consent_ads', 'activity.consent_at') }} as consent_ads,
    {{ tp_last_value_agg('activity.consent_ad_user_data', 'activity.consent_at') }} as consent_ad_user_data,
    {{ tp_last_value_agg('activity.consent_ad_personalization', 'activity.consent_at') }}
        as consent_ad_personalization,
    {{ tp_last_value_agg('activity.consent_source', 'activity.consent_at') }} as consent_source,
    max(activity.consent_at) as consent_updated_at
from {{ ref('int_node_activity') }} as activity
inner join {{ ref('identities') }} as identities
    on activity.node = identities.node
group by identities.person_id
