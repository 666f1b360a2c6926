-- Ads marts hold no row without ads consent, judged on the person's latest consent (consent_state), so a
-- withdrawal after qualifying removes the member.
select audience_members.member_key
from {{ ref('audience_members') }} as audience_members
left join {{ ref('consent_state') }} as consent_state
    on audience_members.person_id = consent_state.person_id
where
    not {{ consent_allows(['ads'], 'consent_state') }}
    or not {{ consent_allows(['ads'], 'audience_members') }}
