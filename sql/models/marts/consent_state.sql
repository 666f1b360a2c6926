-- The latest consent per person (by event time): a withdrawal in the newest event wins, and every ads mart joins
-- this table, so withdrawal propagates to audiences on the next run. Rolled up from int_node_activity through
-- identities, so re-stitching moves consent with the identifiers.
-- Incremental like users (macros/people.sql): the people with new activity or a re-stitch since the last run are
-- rolled up again, so a withdrawal is picked up by the run that loads it; dissolved people are deleted first.
{{ tp_person_mart_config() }}

with

identities as (
    select
        node,
        person_id
    from {{ ref('identities') }}
    {%- if is_incremental() %}
    where person_id in ({{ tp_touched_people(tp_refresh_mark()) }})
    {%- endif %}
)

select
    identities.person_id,
    {{ tp_last_value_agg('activity.consent_analytics', 'activity.consent_at') }} as consent_analytics,
    {{ tp_last_value_agg('activity.consent_ads', 'activity.consent_at') }} as consent_ads,
    {{ tp_last_value_agg('activity.consent_ad_user_data', 'activity.consent_at') }} as consent_ad_user_data,
    {{ tp_last_value_agg('activity.consent_ad_personalization', 'activity.consent_at') }}
        as consent_ad_personalization,
    {{ tp_last_value_agg('activity.consent_source', 'activity.consent_at') }} as consent_source,
    max(activity.consent_at) as consent_updated_at,
    {{ tp_timestamp_literal(run_started_at) }} as _tp_refreshed_at
from {{ ref('int_node_activity') }} as activity
inner join identities
    on activity.node = identities.node
group by identities.person_id
