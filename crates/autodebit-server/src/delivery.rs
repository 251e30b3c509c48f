//! Sending each merchant's events to its webhook endpoints, signed per Standard Webhooks
//! ([`crate::webhooks`]). The endpoints are those of the configuration file and those made
//! through `/v1/webhook_endpoints`, all recorded in the store with their state. One task per
//! process:
//!
//! 1. makes the missing delivery rows for the events of the last hour ([`FAN_OUT_WINDOW_MS`]),
//!    for every endpoint not removed, disabled ones too, so that their events wait for them (from
//!    any server, any number of times: rows are made once);
//! 2. leases due deliveries (several servers send each one once; one resource's events reach an
//!    endpoint in order), sends each: the event as `GET /v1/events/{id}` shows it, its id as
//!    `webhook-id`, so a receiver deduplicates by it;
//! 3. records the try (status, latency, the answer's first bytes) and what follows: a 2xx is
//!    delivered; anything else is tried again after [`RETRY_AFTER_MS`] (each ±10 %), more than three
//!    days in all, then failed for good, counted in `autodebit_webhook_failures_total` and kept;
//!    `POST /v1/events/{id}/redeliver` sends it again;
//! 4. an endpoint that has answered no try with a 2xx for [`DISABLE_AFTER_MS`] (three days: one
//!    delivery's every try) is disabled, with a `webhook_endpoint.disabled` event, a warning and
//!    `autodebit_webhook_endpoints_disabled_total`; its deliveries wait until it is enabled.
//!
//! Time is the merchant's clock (the sandbox's in sandbox mode); the task looks for work every
//! half second when idle.

use std::time::{Duration, Instant};

use autodebit_domain::request_ids::Ids;
use autodebit_store::{
    AttemptOutcome, EndpointRecord, EndpointSource, WebhookAttempt, WebhookDelivery,
};
use tokio_util::sync::CancellationToken;

use crate::http::state::Tenant;
use crate::http::v1::events::{event_body, event_id};
use crate::webhooks::{SignedHeaders, WebhookSecret};

/// Where a merchant's events are sent.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `we_…` (for an endpoint of the configuration, [`config_endpoint_id`] of its URL).
    pub id: String,
    /// The receiver's URL.
    pub url: String,
    /// Its signing secrets, the newest first.
    pub secrets: Vec<WebhookSecret>,
}

/// The id of the configuration's endpoint at `url`: `we_` and the first 24 hex digits of its
/// SHA-256, the same in every server and every run.
pub fn config_endpoint_id(url: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(url.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("we_{hex}")
}

/// How long an endpoint may fail every try before it is disabled: three days.
pub const DISABLE_AFTER_MS: i64 = 3 * 86_400_000;

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

/// The clients deliveries are sent with: no redirects, no proxy, a timeout. `any` sends to the
/// configuration's endpoints (the operator wrote them: an internal host is theirs to choose);
/// `public` to those made through the API, which a holder of an API key chose: it connects only to
/// public addresses (outside sandbox mode), checked on every connection after name resolution, so a
/// name that resolves to an internal address later (DNS rebinding) is refused too.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    any: reqwest::Client,
    public: reqwest::Client,
    /// Whether `public` is `any` (sandbox mode: the receivers are on loopback).
    private_allowed: bool,
}

impl Clients {
    /// The client for an endpoint of `source`.
    fn for_source(&self, source: EndpointSource) -> &reqwest::Client {
        match source {
            EndpointSource::Config => &self.any,
            EndpointSource::Api => &self.public,
        }
    }
}

/// The delivery clients; with `private_allowed` (sandbox mode) both send anywhere.
///
/// # Errors
/// The TLS backend cannot start.
pub(crate) fn clients(private_allowed: bool) -> reqwest::Result<Clients> {
    let builder = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(SEND_TIMEOUT)
    };
    let any = builder().build()?;
    let public = if private_allowed {
        any.clone()
    } else {
        builder()
            .dns_resolver(std::sync::Arc::new(PublicOnly))
            .build()?
    };
    Ok(Clients {
        any,
        public,
        private_allowed,
    })
}

/// Resolves a name to its public addresses only; a name with none fails to resolve (the try fails,
/// and is recorded like any other).
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(Box::new(NotPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A name that resolves to no public address (the resolver's refusal, found again in the send's
/// error to say why nothing was sent).
#[derive(Debug)]
struct NotPublic(String);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to no public address (an endpoint made through the API is sent only to public addresses)",
            self.0
        )
    }
}

impl std::error::Error for NotPublic {}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique local),
/// link-local, shared (100.64/10), documentation, benchmarking, multicast, reserved or unspecified.
pub(crate) fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Why `url` may not be sent to from an endpoint made through the API: its host is an address
/// literal that is not public (names are checked when they are resolved, see [`PublicOnly`]).
pub(crate) fn private_literal(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    (!is_public(ip)).then(|| format!("{ip} is not a public address"))
}

/// Runs until `stop`: the relay and the sender over every merchant (endpoints may be made
/// through the API at any time).
pub(crate) async fn run(tenants: Vec<Tenant>, http: Clients, stop: CancellationToken) {
    // A merchant seen without endpoints is looked at again every [`QUIET_ROUNDS`] rounds only.
    let mut quiet = vec![false; tenants.len()];
    for n in 0_u64.. {
        let mut busy = false;
        for (tenant, quiet) in tenants.iter().zip(quiet.iter_mut()) {
            if *quiet && n % QUIET_ROUNDS != 0 {
                continue;
            }
            match round(tenant, &http, &stop).await {
                Ok(Some(sent)) => {
                    *quiet = false;
                    busy |= sent > 0;
                }
                Ok(None) => *quiet = true,
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

/// How often (in rounds of half a second) a merchant without endpoints is looked at again: an
/// endpoint made through the API gets its first events within five seconds.
const QUIET_ROUNDS: u64 = 10;

/// One round for one merchant: fan out, lease, send; how many were sent (`None`: it has no
/// endpoint).
async fn round(
    tenant: &Tenant,
    http: &Clients,
    stop: &CancellationToken,
) -> Result<Option<usize>, autodebit_domain::ports::StoreError> {
    let store = tenant.store();
    let now = tenant.ctx().now();
    let endpoints = store.endpoints().await?;
    if endpoints.is_empty() {
        return Ok(None);
    }
    for endpoint in &endpoints {
        store
            .fan_out_webhooks(&endpoint.id, now - FAN_OUT_WINDOW_MS, now)
            .await?;
    }
    let Ok(token) = tenant.ctx().ids.lease_token() else {
        // No random source now: nothing is taken; the next round tries again.
        return Ok(Some(0));
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
        let Some((record, endpoint)) = endpoints
            .iter()
            .find(|e| e.id == delivery.endpoint)
            .and_then(|record| Some((record, sendable(tenant, record, now)?)))
        else {
            // No secret to sign with (a configured endpoint this server's file lacks): its lease
            // ends and a server that has it sends it.
            continue;
        };
        let refused = match record.source {
            EndpointSource::Api if !http.private_allowed => private_literal(&endpoint.url),
            EndpointSource::Api | EndpointSource::Config => None,
        };
        let client = http.for_source(record.source);
        send(tenant, client, refused, &endpoint, &delivery, &token).await?;
        sent += 1;
    }
    Ok(Some(sent))
}

/// What endpoint `record` is sent with: its URL and its secrets now (the file's for a configured
/// endpoint, the store's unexpired ones for one of the API).
fn sendable(tenant: &Tenant, record: &EndpointRecord, now: i64) -> Option<Endpoint> {
    let secrets = match record.source {
        EndpointSource::Config => tenant
            .webhooks()
            .iter()
            .find(|e| e.id == record.id)?
            .secrets
            .clone(),
        EndpointSource::Api => record
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .filter_map(|s| s.secret.parse::<WebhookSecret>().ok())
            .collect(),
    };
    (!secrets.is_empty()).then(|| Endpoint {
        id: record.id.clone(),
        url: record.url.clone(),
        secrets,
    })
}

/// Sends one delivery and records the try. `refused`: why it must not be sent at all (an address
/// the endpoint may not reach): recorded as a failed try, retried on the schedule like any other.
async fn send(
    tenant: &Tenant,
    http: &reqwest::Client,
    refused: Option<String>,
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
    let headers = SignedHeaders::new(&endpoint.secrets, &id, wall_seconds(), &body);
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
    let sent = match refused {
        Some(why) => Err(why),
        None => request.send().await.map_err(|e| without_url(&e)),
    };
    let (status, answer) = match sent {
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
        Err(why) => (None, why),
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
        tracing::warn!(merchant = tenant.id(), event = %id, endpoint = %endpoint.id, "a webhook delivery failed for good");
    }
    let attempt = WebhookAttempt {
        endpoint: endpoint.id.clone(),
        n,
        at,
        status,
        latency_ms,
        answer,
    };
    if !store
        .finish_webhook_attempt(seq, token, &attempt, outcome)
        .await?
    {
        return Ok(());
    }
    let failing_since = store.endpoint_tried(&endpoint.id, delivered, at).await?;
    if let Some(since) = failing_since
        && at - since >= DISABLE_AFTER_MS
    {
        let reason = format!(
            "no try answered with a 2xx since {} (last: {})",
            crate::http::dto::time(since),
            status.map_or_else(|| attempt.answer.clone(), |s| format!("HTTP {s}"))
        );
        if store
            .disable_failing_endpoint(&endpoint.id, &reason, at)
            .await?
        {
            metrics::counter!("autodebit_webhook_endpoints_disabled_total", "merchant" => tenant.id().to_owned())
                .increment(1);
            tracing::warn!(merchant = tenant.id(), endpoint = %endpoint.id, %reason, "a webhook endpoint was disabled");
        }
    }
    Ok(())
}

/// The `webhook-timestamp`: the wall clock's seconds, not the merchant's clock. The receiver
/// checks it against its own wall clock (five minutes' tolerance, against replays), so a sandbox
/// whose clock was moved must not move it.
fn wall_seconds() -> i64 {
    #[allow(
        clippy::disallowed_methods,
        reason = "the receiver compares the timestamp with its wall clock"
    )]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What went wrong, without the URL (it may carry credentials of the receiver's).
fn without_url(error: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<NotPublic>() {
            return refused.to_string();
        }
        source = e.source();
    }
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
    #[test]
    fn only_public_unicast_addresses_are_public() {
        use super::{is_public, private_literal};
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "192.0.0.1",
            "192.0.2.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        assert!(private_literal("https://127.0.0.1:8443/x").is_some());
        assert!(private_literal("https://[fd00::1]/x").is_some());
        assert!(private_literal("https://8.8.8.8/x").is_none());
        assert!(
            private_literal("https://hooks.example.com/x").is_none(),
            "names are checked when resolved"
        );
    }

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
