-- Without analytics consent the collector keeps no identifiers; the models must not stitch such events to anyone.
select event_id
from {{ ref('events') }}
where
    not {{ consent_allows(['analytics']) }}
    and (person_id is not null or anonymous_id is not null or user_id is not null or email_sha256 is not null)
