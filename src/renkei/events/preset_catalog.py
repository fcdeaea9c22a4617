"""The inbound presets, one entry per vendor (what each field means: :mod:`.presets`).

Facts come from each vendor's documentation (named in ``docs``): the header that carries the
signature and how it is computed, the body's shape, the field that identifies an event
across the vendor's retries, and the names of the events it sends.
"""

from __future__ import annotations

from collections.abc import Mapping

from renkei.events.presets import EventTypeSpec, Preset, Setting, object_schema

__all__ = ["PRESETS"]

_GENERATED_TOKEN = Setting(
    "secret",
    "the token the vendor sends; leave it out and Renkei generates one (shown once)",
    required=False,
)


def _types(
    prefix: str, schema: Mapping[str, object], names: Mapping[str, str]
) -> tuple[EventTypeSpec, ...]:
    return tuple(
        EventTypeSpec(prefix + name, description, dict(schema))
        for name, description in names.items()
    )


_ONESIGNAL = Preset(
    name="onesignal",
    title="OneSignal Event Streams",
    summary="Message events (push, email, SMS, in-app) streamed by OneSignal.",
    verification={"scheme": "shared_secret", "header": "Authorization", "prefix": "Bearer "},
    settings=(_GENERATED_TOKEN,),
    mapping={
        "type": "event",
        "type_prefix": "onesignal.",
        "id": "id",
        "user_id": "externalId",
        "occurred_at": "timestamp",
    },
    event_types=_types(
        "onesignal.",
        object_schema({"event": "string", "id": "string"}, externalId="string"),
        {
            "message.push.sent": "Push notification sent to the push services.",
            "message.push.received": "Push notification received by the device.",
            "message.push.clicked": "Push notification tapped.",
            "message.push.failed": "Push notification failed to send.",
            "message.push.unsubscribed": "Push subscription unsubscribed.",
            "message.email.sent": "Email sent.",
            "message.email.opened": "Email opened.",
            "message.email.clicked": "Link in an email clicked.",
            "message.email.unsubscribed": "Unsubscribed through an email's link.",
            "message.email.hardbounced": "Email bounced permanently.",
            "message.sms.sent": "SMS sent.",
            "message.sms.delivered": "SMS delivered.",
            "message.sms.failed": "SMS failed to send.",
            "message.iam.displayed": "In-app message displayed.",
            "message.iam.clicked": "In-app message clicked.",
        },
    ),
    body_template=(
        '{"event": "{{ event.kind }}", "id": "{{ event.id }}", '
        '"externalId": "{{ event.external_id }}", "timestamp": {{ event.timestamp }}, '
        '"messageId": "{{ message.id }}"}'
    ),
    setup=(
        "In OneSignal, Data > Event Streams: a webhook to {url} (POST), the header "
        "Authorization: Bearer <secret>, and the body template shown."
    ),
    docs=("https://documentation.onesignal.com/docs/event-streams-data",),
)

_MAILCHIMP = Preset(
    name="mailchimp",
    title="Mailchimp audience webhooks",
    summary="Subscribes, unsubscribes, profile and email changes, cleaned addresses.",
    # Mailchimp does not sign its webhooks: it recommends a secret in the URL.
    verification={"scheme": "shared_secret", "query": "key"},
    settings=(_GENERATED_TOKEN,),
    mapping={
        "type": "type",
        "type_prefix": "mailchimp.",
        "email": "data.email",
        "occurred_at": "fired_at",
    },
    event_types=_types(
        "mailchimp.",
        object_schema({"type": "string", "fired_at": "string", "data": "object"}),
        {
            "subscribe": "Someone subscribed to the audience.",
            "unsubscribe": "Someone unsubscribed (data.action: unsub or delete).",
            "profile": "A subscriber's profile changed.",
            "upemail": "A subscriber changed their email address (data.new_email).",
            "cleaned": "An address was cleaned (hard bounces, abuse).",
            "campaign": "A campaign was sent.",
        },
    ),
    handshake="GET: Mailchimp checks the URL with a GET when the webhook is saved; answered 200",
    setup=(
        "In Mailchimp, Audience > Settings > Webhooks: the URL {url}?key=<secret>, "
        "with the events and sources wanted (unsubscribes included)."
    ),
    docs=("https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/",),
)

_KLAVIYO = Preset(
    name="klaviyo",
    title="Klaviyo system webhooks",
    summary="Klaviyo events (email, SMS, push, profile) in batches, signed.",
    verification={"scheme": "klaviyo"},
    settings=(Setting("secret", "the webhook's secret key, given when it was created"),),
    mapping={
        "items": "data",
        "type": "topic",
        "id": "external_id",
        "occurred_at": "payload.attributes.datetime",
    },
    event_types=_types(
        "",
        object_schema({"topic": "string", "external_id": "string", "payload": "object"}),
        {
            "event:klaviyo.email_delivered": "Email delivered.",
            "event:klaviyo.opened_email": "Email opened.",
            "event:klaviyo.clicked_email": "Link in an email clicked.",
            "event:klaviyo.bounced_email": "Email bounced.",
            "event:klaviyo.unsubscribed_from_email_marketing": "Unsubscribed from email.",
        },
    ),
    setup="With Klaviyo's Webhooks API: a webhook to {url} with its secret key and topics.",
    docs=("https://developers.klaviyo.com/en/docs/working_with_system_webhooks",),
)

_HUBSPOT = Preset(
    name="hubspot",
    title="HubSpot app webhooks",
    summary="CRM object changes (contacts, companies, deals) in batches, signed v3.",
    verification={"scheme": "hubspot_v3"},
    settings=(Setting("client_secret", "the HubSpot app's client secret"),),
    mapping={
        "items": "$",
        "type": "subscriptionType",
        "type_prefix": "hubspot.",
        "id": "eventId",
        "occurred_at": "occurredAt",
    },
    event_types=_types(
        "hubspot.",
        object_schema(
            {"eventId": "integer", "subscriptionType": "string", "objectId": "integer"},
            occurredAt="integer",
            propertyName="string",
        ),
        {
            "contact.creation": "A contact was created.",
            "contact.deletion": "A contact was deleted.",
            "contact.propertyChange": "A contact property changed (propertyName, propertyValue).",
            "contact.privacyDeletion": "A contact was deleted for privacy compliance.",
            "company.creation": "A company was created.",
            "company.propertyChange": "A company property changed.",
            "deal.creation": "A deal was created.",
            "deal.propertyChange": "A deal property changed.",
        },
    ),
    setup="In the HubSpot app's Webhooks settings: the target URL {url} and subscriptions.",
    docs=("https://developers.hubspot.com/docs/api/webhooks/validating-requests",),
)

_BRAZE_CURRENTS = Preset(
    name="braze_currents",
    title="Braze Currents (custom HTTP export)",
    summary="Message engagement and customer behaviour events, batched up to 100.",
    verification={"scheme": "shared_secret", "header": "Authorization", "prefix": "Bearer "},
    settings=(_GENERATED_TOKEN,),
    mapping={
        "items": "events",
        "type": "event_type",
        "type_prefix": "braze.",
        "id": "id",
        "user_id": "user.external_user_id",
        "occurred_at": "time",
    },
    event_types=_types(
        "braze.",
        object_schema({"event_type": "string", "id": "string"}, time="integer", user="object"),
        {
            "users.messages.email.Send": "Email sent.",
            "users.messages.email.Delivery": "Email delivered.",
            "users.messages.email.Open": "Email opened.",
            "users.messages.email.Click": "Link in an email clicked.",
            "users.messages.email.Bounce": "Email bounced.",
            "users.messages.email.Unsubscribe": "Unsubscribed through an email.",
            "users.messages.pushnotification.Send": "Push notification sent.",
            "users.messages.pushnotification.Open": "Push notification opened.",
            "users.behaviors.CustomEvent": "A custom event.",
            "users.behaviors.Purchase": "A purchase.",
            "users.behaviors.subscription.GlobalStateChange": "Global subscription state changed.",
        },
    ),
    setup=(
        "In Braze, Partner Integrations > Data Export > Custom Currents Export: the "
        "endpoint {url} and the secret as its bearer token."
    ),
    docs=(
        "https://www.braze.com/docs/user_guide/data/distribution/braze_currents/"
        "setting_up_currents/custom_http_connector/",
    ),
)

_MARKETO = Preset(
    name="marketo",
    title="Marketo webhooks",
    summary="A smart campaign's webhook; Marketo does not sign, so a token header is checked.",
    verification={"scheme": "shared_secret", "header": "X-Renkei-Token"},
    settings=(_GENERATED_TOKEN,),
    mapping={"type": "event", "type_prefix": "marketo.", "email": "email"},
    event_types=_types(
        "marketo.",
        object_schema({"event": "string"}, email="string", leadId="string"),
        {"lead_changed": "A smart campaign called the webhook for a lead."},
    ),
    body_template=(
        '{"event": "lead_changed", "leadId": "{{lead.Id}}", '
        '"email": "{{lead.Email Address}}", "campaign": "{{campaign.name}}"}'
    ),
    setup=(
        "In Marketo, Admin > Webhooks: URL {url}, POST, JSON, the template shown; "
        "Set Custom Header X-Renkei-Token: <secret>. Call it from a smart campaign flow."
    ),
    docs=(
        "https://experienceleague.adobe.com/en/docs/marketo/using/product-docs/administration/additional-integrations/create-a-webhook",
    ),
)

_SENDGRID = Preset(
    name="sendgrid",
    title="SendGrid Event Webhook (signed)",
    summary="Delivery and engagement events in batches, signed with ECDSA.",
    verification={"scheme": "sendgrid"},
    settings=(
        Setting(
            "public_key",
            "the verification key SendGrid shows under Mail Settings > Event Webhook",
            secret=False,
        ),
    ),
    mapping={
        "items": "$",
        "type": "event",
        "type_prefix": "sendgrid.",
        "id": "sg_event_id",
        "email": "email",
        "occurred_at": "timestamp",
    },
    event_types=_types(
        "sendgrid.",
        object_schema(
            {"event": "string", "email": "string", "sg_event_id": "string"},
            timestamp="integer",
            sg_message_id="string",
        ),
        {
            "processed": "Accepted for delivery.",
            "dropped": "Not sent (suppressed, invalid, ...).",
            "delivered": "Accepted by the receiving server.",
            "deferred": "Delivery delayed; SendGrid retries.",
            "bounce": "Bounced.",
            "open": "Opened.",
            "click": "Link clicked.",
            "spamreport": "Reported as spam.",
            "unsubscribe": "Unsubscribed from everything.",
            "group_unsubscribe": "Unsubscribed from a group.",
            "group_resubscribe": "Subscribed to a group again.",
        },
    ),
    setup=(
        "In SendGrid, Settings > Mail Settings > Event Webhook: the URL {url}, the events, "
        "and Signed Event Webhook on; copy its verification key as public_key."
    ),
    docs=("https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event",),
)

_STRIPE = Preset(
    name="stripe",
    title="Stripe webhooks",
    summary="Stripe events (customers, checkouts, invoices, payments), signed.",
    verification={"scheme": "stripe"},
    settings=(Setting("secret", "the endpoint's signing secret (whsec_...)"),),
    mapping={
        "type": "type",
        "type_prefix": "stripe.",
        "id": "id",
        "email": "data.object.email",
        "occurred_at": "created",
    },
    event_types=_types(
        "stripe.",
        object_schema({"id": "string", "type": "string", "data": "object"}, created="integer"),
        {
            "customer.created": "A customer was created.",
            "customer.updated": "A customer changed.",
            "customer.deleted": "A customer was deleted.",
            "customer.subscription.created": "A subscription started.",
            "customer.subscription.updated": "A subscription changed.",
            "customer.subscription.deleted": "A subscription ended.",
            "checkout.session.completed": "A checkout session completed.",
            "invoice.paid": "An invoice was paid.",
            "invoice.payment_failed": "An invoice payment failed.",
            "payment_intent.succeeded": "A payment succeeded.",
            "payment_intent.payment_failed": "A payment failed.",
            "charge.refunded": "A charge was refunded.",
        },
    ),
    setup="In Stripe, Developers > Webhooks: an endpoint {url}; copy its signing secret.",
    docs=("https://docs.stripe.com/webhooks#verify-events",),
)

_SHOPIFY = Preset(
    name="shopify",
    title="Shopify webhooks",
    summary="Orders, customers and checkouts; the topic is in X-Shopify-Topic.",
    verification={"scheme": "shopify"},
    settings=(Setting("secret", "the app's client secret (or the store's webhook key)"),),
    mapping={
        "type": {"header": "X-Shopify-Topic"},
        "type_prefix": "shopify.",
        "id": {"header": "X-Shopify-Webhook-Id"},
        "email": "email",
        "occurred_at": {"header": "X-Shopify-Triggered-At"},
    },
    event_types=_types(
        "shopify.",
        object_schema({"id": "integer"}, email="string"),
        {
            "orders/create": "An order was placed.",
            "orders/paid": "An order was paid.",
            "orders/updated": "An order changed.",
            "orders/cancelled": "An order was cancelled.",
            "customers/create": "A customer was created.",
            "customers/update": "A customer changed.",
            "checkouts/create": "A checkout was started.",
            "refunds/create": "A refund was made.",
        },
    ),
    setup="In Shopify (app or store settings > Notifications > Webhooks): topics to {url}.",
    docs=("https://shopify.dev/docs/apps/build/webhooks/subscribe/https",),
)

_TWILIO = Preset(
    name="twilio",
    title="Twilio messaging webhooks",
    summary="Incoming messages and message status callbacks (form-encoded, signed).",
    verification={"scheme": "twilio"},
    settings=(Setting("secret", "the account's Auth Token"),),
    mapping={"type": "SmsStatus", "type_prefix": "twilio.sms."},
    # The id: Twilio's I-Twilio-Idempotency-Token header (the scheme's message id).
    event_types=_types(
        "twilio.sms.",
        object_schema({"MessageSid": "string", "AccountSid": "string"}, From="string", To="string"),
        {
            "received": "An incoming message.",
            "queued": "A message was queued.",
            "sent": "A message was sent.",
            "delivered": "A message was delivered.",
            "undelivered": "A message could not be delivered.",
            "failed": "A message failed.",
            "read": "A message was read (WhatsApp).",
        },
    ),
    setup=(
        "In Twilio, the phone number's (or Messaging Service's) webhook URL, or a message's "
        "StatusCallback: {url}. Twilio signs the URL exactly as configured: set "
        "RENKEI_PUBLIC_URL to the public address."
    ),
    docs=("https://www.twilio.com/docs/usage/webhooks/webhooks-security",),
)

_SEGMENT = Preset(
    name="segment",
    title="Segment webhooks destination",
    summary="Another Segment workspace's calls (track, identify, page ...), signed.",
    verification={"scheme": "hmac", "header": "X-Signature", "algorithm": "sha1"},
    settings=(Setting("secret", "the shared secret set in the destination's settings"),),
    mapping={
        "type": "type",
        "type_prefix": "segment.",
        "name": "event",
        "id": "messageId",
        "user_id": "userId",
        "anonymous_id": "anonymousId",
        "email": "traits.email",
        "occurred_at": "timestamp",
    },
    event_types=_types(
        "segment.",
        object_schema({"type": "string", "messageId": "string"}, userId="string"),
        {
            "track": "A track call (its event name in name).",
            "identify": "An identify call.",
            "page": "A page call.",
            "screen": "A screen call.",
            "group": "A group call.",
            "alias": "An alias call.",
        },
    ),
    setup="In Segment, add a Webhooks destination: the URL {url} and the shared secret.",
    docs=("https://segment.com/docs/connections/destinations/catalog/webhooks/",),
)

PRESETS: Mapping[str, Preset] = {
    preset.name: preset
    for preset in (
        _ONESIGNAL,
        _MAILCHIMP,
        _KLAVIYO,
        _HUBSPOT,
        _BRAZE_CURRENTS,
        _MARKETO,
        _SENDGRID,
        _STRIPE,
        _SHOPIFY,
        _TWILIO,
        _SEGMENT,
    )
}
