-- One row per (audience, person) for every audience model (macros/audiences.sql), only for people whose latest
-- consent allows ads: consent withdrawal removes them on the next run and the audience sync deletes them.
with

members as (
    {{ tp_union_audiences() }}
),

per_person as (
    select
        audience_id,
        person_id,
        max(qualified_at) as qualified_at
    from members
    group by audience_id, person_id
)

select
    per_person.audience_id || ':' || per_person.person_id as member_key,
    per_person.audience_id,
    per_person.person_id,
    users.user_id,
    users.email_sha256,
    users.phone_sha256,
    users.country,
    per_person.qualified_at,
    {{ consent_columns('consent_state') }}
from per_person
inner join {{ ref('consent_state') }} as consent_state on per_person.person_id = consent_state.person_id
left join {{ ref('users') }} as users on per_person.person_id = users.person_id
where {{ consent_allows(['ads'], 'consent_state') }}
