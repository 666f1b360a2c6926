-- People who added to cart in the last 7 days and have not purchased since their latest add.
with

carts as (
    select
        person_id,
        max(occurred_at) as last_cart_at
    from {{ ref('events') }}
    where
        event_name in (
            {%- for name in var('tagpipe_cart_events') %}
            '{{ name }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
        and occurred_at >= {{ dbt.dateadd('day', -7, tp_as_of()) }}
        and occurred_at <= {{ tp_as_of() }}
        and person_id is not null
    group by person_id
),

purchases as (
    select
        person_id,
        max(occurred_at) as last_purchase_at
    from {{ ref('conversions') }}
    where conversion_type = 'purchase'
    group by person_id
)

select
    carts.person_id,
    carts.last_cart_at as qualified_at
from carts
left join purchases on carts.person_id = purchases.person_id
where purchases.last_purchase_at is null or purchases.last_purchase_at < carts.last_cart_at
