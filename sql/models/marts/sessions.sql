-- One row per session with the person of its device (a view: re-stitching applies without a rebuild).
{{ config(materialized='view') }}

select
    sessions.session_key,
    identities.person_id,
    sessions.anonymous_id,
    sessions.session_id,
    sessions.started_at,
    sessions.ended_at,
    sessions.duration_seconds,
    sessions.event_count,
    sessions.page_views,
    sessions.landing_page_url,
    sessions.landing_page_path,
    sessions.referrer,
    sessions.utm_source,
    sessions.utm_medium,
    sessions.utm_campaign,
    sessions.utm_term,
    sessions.utm_content,
    sessions.gclid,
    sessions.country,
    sessions.device_type,
    sessions.is_engaged
from {{ ref('int_sessions') }} as sessions
left join {{ ref('identities') }} as identities
    on 'anonymous_id:' || sessions.anonymous_id = identities.node
