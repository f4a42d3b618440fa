//! `event` and `webhook_endpoint`.

use super::super::json::Obj;
use super::super::model::{Event, WebhookEndpoint};
use super::{Ctx, event_object};

/// An event; its object is rendered in the event's own API version, whatever the request's.
pub fn event(c: &Ctx<'_>, x: &Event, out: &mut Vec<u8>) {
    let oc = Ctx {
        st: c.st,
        version: &x.api_version,
        expand: &[],
    };
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "event");
    o.str("api_version", &x.api_version)
        .int("created", x.created)
        .obj("data", |o| {
            o.with("object", |out| event_object(&oc, &x.object, out));
            if let Some(p) = &x.previous {
                o.value("previous_attributes", p);
            }
        })
        .bool("livemode", false)
        .int("pending_webhooks", x.pending_webhooks as i64)
        .obj("request", |o| {
            o.opt_str("id", x.request_id.as_deref())
                .opt_str("idempotency_key", x.idempotency_key.as_deref());
        })
        .str("type", x.kind);
    o.end();
}

/// A webhook endpoint; `secret` only in the response that created it, as on Stripe.
pub fn webhook_endpoint(x: &WebhookEndpoint, with_secret: bool, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.str("id", &x.id).str("object", "webhook_endpoint");
    o.opt_str("api_version", x.api_version.as_deref())
        .null("application")
        .int("created", x.created)
        .opt_str("description", x.description.as_deref())
        .str_list(
            "enabled_events",
            x.enabled_events.iter().map(|s| s.as_str()),
        )
        .bool("livemode", false)
        .str_map("metadata", &x.metadata);
    if with_secret {
        o.str("secret", &x.secret);
    }
    o.str("status", x.status).str("url", &x.url);
    o.end();
}
