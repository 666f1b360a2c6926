-- Quarantined input (raw.events_invalid): why each record was refused, so nothing is dropped silently.
{%- set fields = [
    {'name': 'reason', 'path': '$.reason', 'type': 'string'},
    {'name': 'event_id', 'path': '$.event_id', 'type': 'string'},
    {'name': 'received_at', 'path': '$.received_at', 'type': 'timestamp'},
    {'name': 'source_id', 'path': '$.source.id', 'type': 'string'},
    {'name': 'protocol', 'path': '$.source.protocol', 'type': 'string'},
    {'name': 'schema_version', 'path': '$.schema_version', 'type': 'int'},
    {'name': 'errors', 'path': '$.errors', 'type': 'json'},
    {'name': 'raw_input', 'path': '$.raw', 'type': 'json'},
] %}

with

raw_messages as (
    select
        message_id,
        publish_time,
        data
    from {{ source('raw', 'events_invalid') }}
),

parsed as (
    {{ tp_json_fields('raw_messages', 'data', fields, passthrough=['message_id', 'publish_time']) }}
),

renamed as (
    select
        message_id,
        publish_time as published_at,
        reason,
        errors,
        event_id,
        received_at,
        source_id,
        protocol,
        raw_input,
        schema_version
    from parsed
)

select * from renamed
