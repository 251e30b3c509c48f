//! A notification verifier for tests whose subject is not the signature: it believes every body
//! that parses. Every test against the sandbox uses the real verifier (`autodebit-alipay`), which
//! checks Alipay's signature over the exact bytes.

use ams_protocol::Notification;

use crate::model::Body;
use crate::ports::{NotificationVerifier, RawNotification, RefusalCause, Verification};

/// Believes every notification whose body parses (never use it outside tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct UncheckedVerifier;

impl NotificationVerifier for UncheckedVerifier {
    fn verify(&self, raw: &RawNotification) -> Verification {
        match Notification::from_json(raw.body.expose().as_bytes()) {
            Ok(notification) => Verification::Verified(notification),
            Err(e) => Verification::Refused {
                cause: RefusalCause::BadBody,
                detail: e.to_string(),
            },
        }
    }
}

/// `notification` as it would arrive: its JSON body on `/notify`, with no headers.
pub fn raw(notification: &Notification) -> RawNotification {
    RawNotification {
        path: "/notify".into(),
        headers: Vec::new(),
        body: Body::new(serde_json::to_string(notification).expect("a notification serialises")),
    }
}
