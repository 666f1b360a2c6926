-- One row per conversion, deduplicated by transaction id (int_conversions), with the person and session it
-- belongs to now (a view: re-stitching applies without a rebuild).
{{ config(materialized='view') }}

select
    conversions.conversion_key,
    conversions.event_id,
    conversions.event_name,
    conversions.conversion_type,
    conversions.occurred_at,
    conversions.event_date,
    conversions.transaction_id,
    conversions.value,
    conversions.currency,
    conversions.items,
    identities.person_id,
    conversions.user_id,
    conversions.anonymous_id,
    conversions.session_id,
    sessions.session_key,
    conversions.email_sha256,
    conversions.phone_sha256,
    conversions.gclid,
    conversions.gbraid,
    conversions.wbraid,
    conversions.fbc,
    conversions.fbp,
    conversions.ttclid,
    conversions.msclkid,
    conversions.li_fat_id,
    conversions.ip,
    conversions.user_agent,
    conversions.page_url,
    conversions.country,
    {{ consent_columns('conversions') }}
from {{ ref('int_conversions') }} as conversions
left join {{ ref('identities') }} as identities
    on {{ tp_primary_node('conversions') }} = identities.node
left join {{ ref('int_sessionized_events') }} as sessions
    on conversions.event_id = sessions.event_id
