//! Fault rules: matching gateway calls and outgoing notifications against the rules, with counters.

use ams_protocol::Api;

use super::{FaultSlot, NotificationFaultSlot, World};
use crate::model::{FaultRule, NotificationFaultAction, NotificationFaultRule, NotificationKind};

impl World {
    pub(crate) fn add_fault(&mut self, rule: FaultRule) -> usize {
        self.faults.push(FaultSlot {
            rule,
            seen: 0,
            fired: 0,
        });
        self.faults.len()
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
        self.notification_faults.clear();
    }

    pub(crate) fn faults(&self) -> Vec<(FaultRule, u32, u32)> {
        self.faults
            .iter()
            .map(|s| (s.rule.clone(), s.seen, s.fired))
            .collect()
    }

    /// The rule that fires for this call, if any; counts the match on every rule it reaches.
    pub(crate) fn take_fault(&mut self, api: Api, request_id: Option<&str>) -> Option<FaultRule> {
        for slot in &mut self.faults {
            let rule = &slot.rule;
            let matches = rule.api == api
                && match (&rule.request_id, request_id) {
                    (None, _) => true,
                    (Some(wanted), Some(got)) => wanted == got,
                    (Some(_), None) => false,
                };
            if !matches {
                continue;
            }
            slot.seen += 1;
            let exhausted = rule.times.is_some_and(|t| slot.fired >= t);
            if slot.seen > rule.skip && !exhausted {
                slot.fired += 1;
                return Some(rule.clone());
            }
        }
        None
    }

    pub(crate) fn add_notification_fault(&mut self, rule: NotificationFaultRule) -> usize {
        self.notification_faults
            .push(NotificationFaultSlot { rule, fired: 0 });
        self.notification_faults.len()
    }

    pub(super) fn take_notification_fault(
        &mut self,
        kind: NotificationKind,
        request_id: &str,
    ) -> Option<NotificationFaultAction> {
        for slot in &mut self.notification_faults {
            let rule = &slot.rule;
            let matches = rule.notification.is_none_or(|k| k == kind)
                && rule.request_id.as_deref().is_none_or(|r| r == request_id)
                && rule.times.is_none_or(|t| slot.fired < t);
            if matches {
                slot.fired += 1;
                return Some(rule.action.clone());
            }
        }
        None
    }
}
