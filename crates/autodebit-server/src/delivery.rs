//! Sending each merchant's events to its webhook endpoints, signed per Standard Webhooks
//! ([`crate::webhooks`]). One task per process:
//!
//! 1. makes the missing delivery rows for the events of the last hour ([`FAN_OUT_WINDOW_MS`]),
//!    for every endpoint (from any server, any number of times: rows are made once);
//! 2. leases due deliveries (several servers send each one once; one resource's events reach an
//!    endpoint in order), sends each: the event as `GET /v1/events/{id}` shows it, its id as
//!    `webhook-id`, so a receiver deduplicates by it;
//! 3. records the try (status, latency, the answer's first bytes) and what follows: a 2xx is
//!    delivered; anything else is tried again after [`RETRY_AFTER_MS`] (each ±10 %), more than three
//!    days in all, then failed for good, counted in `autodebit_webhook_failures_total` and kept;
//!    `POST /v1/events/{id}/redeliver` sends it again.
//!
//! Time is the merchant's clock (the sandbox's in sandbox mode); the task looks for work every
//! half second when idle.

use std::time::{Duration, Instant};

use autodebit_domain::request_ids::Ids;
use autodebit_store::{AttemptOutcome, WebhookAttempt, WebhookDelivery};
use tokio_util::sync::CancellationToken;

use crate::http::state::Tenant;
use crate::http::v1::events::{event_body, event_id};
use crate::webhooks::{SignedHeaders, WebhookSecret};

/// Where a merchant's events are sent.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The receiver's URL.
    pub url: String,
    /// Its signing secrets, the newest first.
    pub secrets: Vec<WebhookSecret>,
}

/// How far back the relay looks for events without delivery rows.
pub const FAN_OUT_WINDOW_MS: i64 = 3_600_000;

/// The waits before the second, third, … try: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 1 day,
/// 1 day (about 3.3 days in all, ten tries).
pub const RETRY_AFTER_MS: [i64; 9] = [
    5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, 86_400_000,
    86_400_000,
];

/// How long one send may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an answer is kept.
const ANSWER_BYTES: usize = 256;

/// The client deliveries are sent with: no redirects, no proxy, a timeout.
///
/// # Errors
/// The TLS backend cannot start.
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(SEND_TIMEOUT)
        .build()
}

/// Runs until `stop`: the relay and the sender over every merchant with endpoints.
pub(crate) async fn run(tenants: Vec<Tenant>, http: reqwest::Client, stop: CancellationToken) {
    let tenants: Vec<Tenant> = tenants
        .into_iter()
        .filter(|t| !t.webhooks().is_empty())
        .collect();
    if tenants.is_empty() {
        return;
    }
    loop {
        let mut busy = false;
        for tenant in &tenants {
            match round(tenant, &http, &stop).await {
                Ok(sent) => busy |= sent > 0,
                Err(e) => tracing::warn!(merchant = tenant.id(), error = %e, "webhook deliveries"),
            }
            if stop.is_cancelled() {
                return;
            }
        }
        if !busy {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// One round for one merchant: fan out, lease, send; how many were sent.
async fn round(
    tenant: &Tenant,
    http: &reqwest::Client,
    stop: &CancellationToken,
) -> Result<usize, autodebit_domain::ports::StoreError> {
    let store = tenant.store();
    let now = tenant.ctx().now();
    for endpoint in tenant.webhooks() {
        store
            .fan_out_webhooks(&endpoint.url, now - FAN_OUT_WINDOW_MS, now)
            .await?;
    }
    let Ok(token) = tenant.ctx().ids.lease_token() else {
        // No random source now: nothing is taken; the next round tries again.
        return Ok(0);
    };
    let token = token.as_str().to_owned();
    let claimed = store
        .claim_webhook_deliveries(now, &token, now + 60_000, 10)
        .await?;
    let mut sent = 0;
    for delivery in claimed {
        if stop.is_cancelled() {
            // Its lease ends on its own; another server sends it then.
            break;
        }
        let Some(endpoint) = tenant
            .webhooks()
            .iter()
            .find(|e| e.url == delivery.endpoint)
        else {
            // An endpoint no longer configured: its rows wait for it to come back.
            continue;
        };
        send(tenant, http, endpoint, &delivery, &token).await?;
        sent += 1;
    }
    Ok(sent)
}

async fn send(
    tenant: &Tenant,
    http: &reqwest::Client,
    endpoint: &Endpoint,
    delivery: &WebhookDelivery,
    token: &str,
) -> Result<(), autodebit_domain::ports::StoreError> {
    let store = tenant.store();
    let seq = delivery.event_seq;
    let Some(event) = store.event(seq).await? else {
        return Ok(());
    };
    let Ok(body) = event_body(tenant, seq, &event).await else {
        // The resource could not be read now: the lease ends and it is tried again.
        return Ok(());
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let at = tenant.ctx().now();
    let id = event_id(seq);
    let headers = SignedHeaders::new(&endpoint.secrets, &id, at.div_euclid(1000), &body);
    let mut request = http
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "a send's latency, for the record only"
    )]
    let started = Instant::now();
    let (status, answer) = match request.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let head = match response.chunk().await {
                Ok(Some(bytes)) => {
                    String::from_utf8_lossy(&bytes[..bytes.len().min(ANSWER_BYTES)]).into_owned()
                }
                _ => String::new(),
            };
            (Some(status), head)
        }
        Err(e) => (None, without_url(&e)),
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let n = delivery.attempts.saturating_add(1);
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let outcome = if delivered {
        AttemptOutcome::Delivered
    } else {
        match RETRY_AFTER_MS.get(usize::try_from(delivery.attempts).unwrap_or(usize::MAX)) {
            Some(wait) => {
                AttemptOutcome::RetryAt(tenant.ctx().now() + jittered(&tenant.ctx().ids, *wait))
            }
            None => AttemptOutcome::Failed,
        }
    };
    let merchant = tenant.id().to_owned();
    let label = match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryAt(_) => "retry",
        AttemptOutcome::Failed => "failed",
    };
    metrics::counter!("autodebit_webhook_attempts_total", "merchant" => merchant.clone(), "outcome" => label)
        .increment(1);
    if outcome == AttemptOutcome::Failed {
        metrics::counter!("autodebit_webhook_failures_total", "merchant" => merchant).increment(1);
        tracing::warn!(merchant = tenant.id(), event = %id, endpoint = %endpoint.url, "a webhook delivery failed for good");
    }
    let attempt = WebhookAttempt {
        endpoint: endpoint.url.clone(),
        n,
        at,
        status,
        latency_ms,
        answer,
    };
    store
        .finish_webhook_attempt(seq, token, &attempt, outcome)
        .await?;
    Ok(())
}

/// What went wrong, without the URL (it may carry credentials of the receiver's).
fn without_url(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    what.to_owned()
}

/// `wait` ± 10 %, drawn by the domain's random source (the midpoint if it fails).
fn jittered(ids: &Ids, wait: i64) -> i64 {
    ids.jitter(wait - wait / 10, wait + wait / 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_last_more_than_three_days_and_jitter_stays_within_a_tenth() {
        let total: i64 = RETRY_AFTER_MS.iter().sum();
        assert!(total > 3 * 86_400_000, "{total}");
        let ids = Ids::new(std::sync::Arc::new(autodebit_domain::request_ids::OsRandom));
        for wait in RETRY_AFTER_MS {
            for _ in 0..50 {
                let j = jittered(&ids, wait);
                assert!(
                    (wait - wait / 10..=wait + wait / 10).contains(&j),
                    "{wait} {j}"
                );
            }
        }
    }
}
