-- One row per distinct event_id with its person and session (docs/marts.md). A view over int_events_deduped, so
-- re-stitching (identities) and re-sessionizing apply to all history without rewriting it.
-- person_id: the person of the event's user_id, else of its email_sha256, else of its anonymous_id (every identifier
-- of an event is in identities, so one join on that node is enough).
{{ config(materialized='view') }}

with

events as (
    select * from {{ ref('int_events_deduped') }}
),

identities as (
    select
        node,
        person_id
    from {{ ref('identities') }}
),

sessions as (
    select
        event_id,
        session_key
    from {{ ref('int_sessionized_events') }}
)

select
    events.event_id,
    events.type,
    events.event_name,
    events.occurred_at,
    events.received_at,
    events.event_date,
    identities.person_id,
    events.anonymous_id,
    events.user_id,
    sessions.session_key,
    events.session_id,
    events.source_id,
    events.protocol,
    events.page_url,
    events.page_path,
    events.page_referrer,
    events.page_title,
    events.user_agent,
    events.ip,
    events.locale,
    events.country,
    events.region,
    events.city,
    events.device_type,
    events.browser,
    events.os,
    events.is_bot,
    events.utm_source,
    events.utm_medium,
    events.utm_campaign,
    events.utm_term,
    events.utm_content,
    events.gclid,
    events.gbraid,
    events.wbraid,
    events.fbclid,
    events.fbc,
    events.fbp,
    events.ttclid,
    events.msclkid,
    events.li_fat_id,
    events.email_sha256,
    events.phone_sha256,
    events.transaction_id,
    events.value,
    events.currency,
    events.items,
    events.trait_email,
    events.trait_phone,
    events.trait_first_name,
    events.trait_last_name,
    events.properties,
    events.traits,
    events.session_engaged,
    {{ consent_columns('events') }}
from events
left join identities
    on {{ tp_primary_node('events') }} = identities.node
left join sessions
    on events.event_id = sessions.event_id
