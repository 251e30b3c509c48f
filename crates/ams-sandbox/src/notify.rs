//! Notification delivery: signed POSTs to the merchant, retried on Alipay's schedule until the exact
//! acknowledgement comes back.
//!
//! Schedule (digest §4): after the first attempt, up to 8 retries at intervals of 0 s, 2 min, 10 min,
//! 10 min, 1 h, 2 h, 6 h and 15 h, each scaled by the configured factor. Due times are on the
//! sandbox clock, so advancing the clock makes retries due at once; a running clock makes them due
//! in real time.
//!
//! The notifier only ever calls the URLs it is given: it follows no redirect (a `3xx` answer is a
//! failed attempt, retried like any other), and reads at most [`MAX_ANSWER_BYTES`] of an answer.

use std::sync::Arc;
use std::time::Duration;

use ams_signing::SignedContent;
use tokio::sync::watch;

use crate::model::{DeliveryAttempt, DeliveryState};
use crate::shared::Shared;
use crate::util::ams_time;

/// Alipay's retry intervals after a failed attempt, in milliseconds, unscaled.
pub const ALIPAY_RETRY_INTERVALS_MS: [i64; 8] = [
    0,
    2 * 60_000,
    10 * 60_000,
    10 * 60_000,
    3_600_000,
    2 * 3_600_000,
    6 * 3_600_000,
    15 * 3_600_000,
];

/// The schedule scaled by `factor` (1.0 is Alipay's own).
pub(crate) fn scaled_intervals(factor: f64) -> Vec<i64> {
    ALIPAY_RETRY_INTERVALS_MS
        .iter()
        .map(|&ms| (ms as f64 * factor).round() as i64)
        .collect()
}

/// Whether a merchant's answer acknowledges: a JSON object whose `result` has `resultCode`
/// `SUCCESS` and `resultStatus` `S`. The message is not compared (Alipay's own samples write
/// `success`, `Success` and `success.`; digest §4, §5.2, §9.8) and may be missing; anything else
/// (another code or status, no `result`, not JSON) is no acknowledgement and the notification is
/// sent again. [`ams_protocol::ACK_SUCCESS_BODY`] is what a merchant should send.
pub(crate) fn is_ack(body: &[u8]) -> bool {
    let Ok(got) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let result = &got["result"];
    result["resultCode"] == "SUCCESS"
        && result["resultStatus"] == "S"
        && (result.get("resultMessage").is_none() || result["resultMessage"].is_string())
}

#[cfg(test)]
mod ack_tests {
    use super::is_ack;
    use ams_protocol::ACK_SUCCESS_BODY;

    #[test]
    fn the_code_and_status_acknowledge_whatever_the_message() {
        assert!(is_ack(ACK_SUCCESS_BODY.as_bytes()));
        for body in [
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"}}"#,
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."}}"#,
            r#"{"result":{"resultStatus":"S","resultCode":"SUCCESS"}}"#,
        ] {
            assert!(is_ack(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"F","resultMessage":"success"}}"#,
            r#"{"result":{"resultCode":"success","resultStatus":"S"}}"#,
            r#"{"resultCode":"SUCCESS","resultStatus":"S"}"#,
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":7}}"#,
            "ok",
            "",
        ] {
            assert!(!is_ack(body.as_bytes()), "{body}");
        }
    }
}

struct Due {
    index: usize,
    url: String,
    client_id: String,
    body: String,
    copies: usize,
}

/// Runs until `shutdown` turns true. Each URL's due notifications go out in order, one at a time;
/// different URLs are served at once, so a merchant endpoint that hangs holds back only its own.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut clock_changes = shared.clock.subscribe();
    let mut sending = tokio::task::JoinSet::new();
    loop {
        while sending.try_join_next().is_some() {}
        let now = shared.clock.now_ms();
        let (due, next) = collect(&shared, now);
        let mut by_url: Vec<(String, Vec<Due>)> = Vec::new();
        for item in due {
            match by_url.iter_mut().find(|(url, _)| *url == item.url) {
                Some((_, items)) => items.push(item),
                None => by_url.push((item.url.clone(), vec![item])),
            }
        }
        for (_, items) in by_url {
            let shared = shared.clone();
            sending.spawn(async move {
                for item in items {
                    deliver(&shared, item).await;
                }
                // The loop looks again: this URL's later notifications may be due.
                shared.outbox_signal.notify_one();
            });
        }
        if !collect_is_idle(&shared) {
            continue;
        }
        let sleep = match next {
            Some(at) if !shared.clock.is_frozen() => Duration::from_millis(
                u64::try_from(at.saturating_sub(shared.clock.now_ms())).unwrap_or(0),
            ),
            _ => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = shared.outbox_signal.notified() => {}
            _ = clock_changes.changed() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {
                sending.abort_all();
                return;
            }
        }
    }
}

/// The URLs with a delivery under way: their next notifications wait for it.
fn busy_urls(world: &crate::world::World) -> Vec<String> {
    world
        .outbox
        .iter()
        .filter(|d| d.in_flight)
        .map(|d| d.record.url.clone())
        .collect()
}

/// Whether nothing is due right now (so the loop may wait).
fn collect_is_idle(shared: &Shared) -> bool {
    let now = shared.clock.now_ms();
    let world = shared.lock();
    let busy = busy_urls(&world);
    !world.outbox.iter().any(|d| {
        d.record.state == DeliveryState::Pending
            && !d.in_flight
            && !busy.contains(&d.record.url)
            && d.record.next_attempt_ms.is_some_and(|at| at <= now)
    })
}

/// Releases the held requests due now, then takes the deliveries due now (marking them in
/// flight), and returns the next time anything (a delivery, an expiry, a held request) falls due.
fn collect(shared: &Shared, now: i64) -> (Vec<Due>, Option<i64>) {
    let mut world = shared.lock();
    // The notifier also releases held requests in real time, while the clock runs. A frozen clock
    // only moves when told: through the handle or the control API (which release what became
    // due themselves) or straight on the `SandboxClock`, which leaves them to the next gateway
    // call, so a test decides exactly when they land.
    if !shared.clock.is_frozen() {
        world.release_due(now);
    }
    let mut next = world.sweep(now);
    if let Some(held) = world.next_held_due() {
        next = Some(next.map_or(held, |n| n.min(held)));
    }
    let busy = busy_urls(&world);
    let mut due = Vec::new();
    for (index, delivery) in world.outbox.iter_mut().enumerate() {
        if delivery.record.state != DeliveryState::Pending
            || delivery.in_flight
            || busy.contains(&delivery.record.url)
        {
            continue;
        }
        let Some(at) = delivery.record.next_attempt_ms else {
            continue;
        };
        if at <= now {
            delivery.in_flight = true;
            let copies = if delivery.duplicate_first && delivery.attempts_made == 0 {
                2
            } else {
                1
            };
            // A notification released from a reorder hold sorts right after its releaser.
            let order = match delivery.release_after {
                Some(releaser) => (releaser, true),
                None => (delivery.record.seq, false),
            };
            due.push((
                at,
                order,
                Due {
                    index,
                    url: delivery.record.url.clone(),
                    client_id: delivery.record.client_id.clone(),
                    body: delivery.record.body.clone(),
                    copies,
                },
            ));
        } else {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    drop(world);
    // Oldest due first; among equals, in the order they were raised (a released notification
    // right after the one that released it).
    due.sort_by_key(|(at, order, _)| (*at, *order));
    (due.into_iter().map(|(_, _, d)| d).collect(), next)
}

async fn deliver(shared: &Shared, item: Due) {
    let mut acknowledged = false;
    for _ in 0..item.copies {
        let attempt = post(shared, &item).await;
        acknowledged |= attempt.acknowledged;
        shared.lock().outbox[item.index]
            .record
            .attempts
            .push(attempt);
    }
    let now = shared.clock.now_ms();
    let mut world = shared.lock();
    let intervals = if world.settings().no_resend {
        Vec::new()
    } else {
        world.retry_intervals_ms.clone()
    };
    let delivery = &mut world.outbox[item.index];
    delivery.in_flight = false;
    delivery.attempts_made += 1;
    if acknowledged {
        delivery.record.state = DeliveryState::Delivered;
        delivery.record.next_attempt_ms = None;
    } else if let Some(interval) = intervals.get(delivery.attempts_made - 1) {
        delivery.record.next_attempt_ms = Some(now.saturating_add(*interval));
    } else {
        delivery.record.state = DeliveryState::GaveUp;
        delivery.record.next_attempt_ms = None;
    }
}

/// The most the notifier reads of a merchant's answer. The acknowledgement is about 80 bytes; an
/// answer longer than this is not one, and is not read further.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Reads an answer's body, refusing to read more than `limit` bytes.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(format!(
            "the answer was longer than {limit} bytes (Content-Length {}); not read",
            response.content_length().unwrap_or_default()
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!(
                "the answer was longer than {limit} bytes; not read further"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One signed POST of a notification.
async fn post(shared: &Shared, item: &Due) -> DeliveryAttempt {
    let now = shared.clock.now_ms();
    let mut attempt = DeliveryAttempt {
        at_ms: now,
        http_status: None,
        error: None,
        acknowledged: false,
    };
    let url = match reqwest::Url::parse(&item.url) {
        Ok(url) => url,
        Err(e) => {
            attempt.error = Some(format!("bad notify URL: {e}"));
            return attempt;
        }
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let time = ams_time(now);
    let content =
        SignedContent::notification(&path, &item.client_id, time.as_str(), item.body.as_bytes());
    let signature = match shared.alipay.sign(&content) {
        Ok(signature) => signature.to_string(),
        Err(e) => {
            attempt.error = Some(e.to_string());
            return attempt;
        }
    };
    let sent = shared
        .http
        .post(url)
        .timeout(shared.notify_timeout)
        .header("content-type", "application/json; charset=UTF-8")
        .header("client-id", &item.client_id)
        .header("request-time", time.as_str())
        .header("signature", signature)
        .body(item.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) => {
            attempt.http_status = Some(response.status().as_u16());
            match read_bounded(response, MAX_ANSWER_BYTES).await {
                Ok(body) => {
                    attempt.acknowledged = attempt.http_status == Some(200) && is_ack(&body)
                }
                Err(e) => attempt.error = Some(e),
            }
            if !attempt.acknowledged && attempt.error.is_none() {
                attempt.error = Some("the answer was not the acknowledgement".to_owned());
            }
        }
        Err(e) => attempt.error = Some(format!("POST failed: {e}")),
    }
    attempt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_scales() {
        assert_eq!(scaled_intervals(1.0), ALIPAY_RETRY_INTERVALS_MS.to_vec());
        assert_eq!(scaled_intervals(0.001)[1], 120);
        assert_eq!(scaled_intervals(0.001).iter().sum::<i64>(), 87_720);
    }
}
