//! The outbox: notifications raised by the rules, shaped by notification faults, for the notifier to deliver.

use super::{Delivery, World};
use crate::model::{DeliveryState, NotificationFaultAction, NotificationKind, NotificationRecord};

impl World {
    pub(super) fn enqueue(
        &mut self,
        kind: NotificationKind,
        client_id: &str,
        url: Option<String>,
        request_id: &str,
        body: String,
        now: i64,
    ) {
        let Some(url) = url else {
            return; // No URL configured: Alipay would not notify either.
        };
        let action = self.take_notification_fault(kind, request_id);
        let seq = self.outbox.len() as u64 + 1;
        let mut state = DeliveryState::Pending;
        let mut due = Some(now);
        let mut duplicate_first = false;
        match action {
            Some(NotificationFaultAction::Skip) => {
                state = DeliveryState::Skipped;
                due = None;
            }
            Some(NotificationFaultAction::Duplicate) => duplicate_first = true,
            Some(NotificationFaultAction::Delay { ms }) => {
                due = Some(now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
            }
            Some(NotificationFaultAction::Reorder) => {
                state = DeliveryState::Held;
                due = None;
            }
            None => {}
        }
        // A notification held by a reorder fault goes right after this one: due at the same
        // time (so a frozen clock releases it too) and ordered after it by the notifier.
        if state == DeliveryState::Pending {
            for held in self.outbox.iter_mut().filter(|d| {
                d.record.state == DeliveryState::Held && d.record.client_id == client_id
            }) {
                held.record.state = DeliveryState::Pending;
                held.record.next_attempt_ms = due;
                held.release_after = Some(seq);
            }
        }
        self.outbox.push(Delivery {
            record: NotificationRecord {
                seq,
                notification: kind,
                client_id: client_id.to_owned(),
                url,
                request_id: request_id.to_owned(),
                body,
                state,
                attempts: Vec::new(),
                next_attempt_ms: due,
            },
            attempts_made: 0,
            in_flight: false,
            duplicate_first,
            release_after: None,
        });
    }

    pub(crate) fn notifications(&self) -> Vec<NotificationRecord> {
        self.outbox.iter().map(|d| d.record.clone()).collect()
    }
}
