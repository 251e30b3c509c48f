//! The payment attempt lifecycle: one `paymentRequestId` with its exact parameters.
//!
//! ```text
//! Created ──send──▶ Sent ──S──▶ Succeeded
//!    ▲ not sent      │ F ─────▶ Failed
//!    └───────────────┤ U, timeout, no answer
//!                    ▼
//!                 Unknown ──inquire──▶ Inquiring ──SUCCESS / FAIL / CANCELLED──▶ Succeeded / Failed / Cancelled
//!                                          │ still unknown after the last inquiry
//!                                          ▼
//!                                   CancelRequested ──cancel S──▶ Cancelled
//!                                          │ cancel refused (window passed) or retries exhausted
//!                                          ▼
//!                                     NeedsOperator
//! ```
//!
//! A success that arrives after a cancel is recorded ([`Note::LateSuccessAfterCancel`]: Alipay returns
//! the money itself), never turned into a second success. A failure after a success, or a success
//! after a failure, contradicts Alipay and is an error.

use super::{InvalidTransition, Note, Step};

/// Where a payment attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptState {
    /// Stored with its exact parameters; not sent.
    Created,
    /// `pay` is (or may be) on its way.
    Sent,
    /// Paid. Final.
    Succeeded,
    /// Not paid. Final.
    Failed,
    /// `U`, a timeout, or no answer: the outcome is not known.
    Unknown,
    /// Being resolved by `inquiryPayment`.
    Inquiring,
    /// Being cancelled (the inquiries did not resolve it, or the merchant asked).
    CancelRequested,
    /// Cancelled: nothing charged, or the charge returned. Final.
    Cancelled,
    /// Nothing more can be done automatically: an operator must look.
    NeedsOperator,
}

impl AttemptState {
    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sent => "sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Inquiring => "inquiring",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::NeedsOperator => "needs_operator",
        }
    }

    /// Every state.
    pub const ALL: [AttemptState; 9] = [
        Self::Created,
        Self::Sent,
        Self::Succeeded,
        Self::Failed,
        Self::Unknown,
        Self::Inquiring,
        Self::CancelRequested,
        Self::Cancelled,
        Self::NeedsOperator,
    ];

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the outcome is settled (succeeded, failed or cancelled).
    pub fn is_final(self) -> bool {
        match self {
            Self::Succeeded | Self::Failed | Self::Cancelled => true,
            Self::Created
            | Self::Sent
            | Self::Unknown
            | Self::Inquiring
            | Self::CancelRequested
            | Self::NeedsOperator => false,
        }
    }
}

/// What can happen to a payment attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptEvent {
    /// `pay` is about to be sent.
    Send,
    /// The request surely did not leave (build, sign or connection refused).
    NotSent,
    /// Paid: `pay` S, inquiry `SUCCESS`, or a success notification.
    Succeeded,
    /// Not paid: `pay` F, inquiry `FAIL`, or a failure notification.
    Failed,
    /// `pay` answered `U`, timed out, or its answer was lost or unverifiable.
    Unknown,
    /// Resolution by inquiry starts.
    InquiryStarted,
    /// An inquiry did not settle it (`PROCESSING`, `U`, order not found yet).
    StillUnknown,
    /// Cancelled: inquiry `CANCELLED`, or `cancel` S.
    Cancelled,
    /// A cancel is wanted (inquiries exhausted, or the merchant asked).
    CancelRequested,
    /// The cancel cannot succeed (refused for good, or its retries ran out).
    CancelImpossible,
}

impl AttemptEvent {
    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::NotSent => "not_sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::InquiryStarted => "inquiry_started",
            Self::StillUnknown => "still_unknown",
            Self::Cancelled => "cancelled",
            Self::CancelRequested => "cancel_requested",
            Self::CancelImpossible => "cancel_impossible",
        }
    }

    /// Every event.
    pub const ALL: [AttemptEvent; 10] = [
        Self::Send,
        Self::NotSent,
        Self::Succeeded,
        Self::Failed,
        Self::Unknown,
        Self::InquiryStarted,
        Self::StillUnknown,
        Self::Cancelled,
        Self::CancelRequested,
        Self::CancelImpossible,
    ];
}

/// The one transition function of the attempt lifecycle.
///
/// # Errors
/// [`InvalidTransition`] when the event contradicts the state.
pub fn transition(
    state: AttemptState,
    event: AttemptEvent,
) -> Result<Step<AttemptState>, InvalidTransition> {
    use AttemptEvent as E;
    use AttemptState as S;
    let invalid = || {
        Err(InvalidTransition {
            machine: "payment attempt",
            state: state.name(),
            event: event.name(),
        })
    };
    let moved = |s| Ok(Step::Moved(s));
    let unchanged = || Ok(Step::Unchanged(state));
    let noted = |n| Ok(Step::Noted(state, n));
    match event {
        E::Send => match state {
            S::Created => moved(S::Sent),
            S::Sent => unchanged(),
            S::Succeeded
            | S::Failed
            | S::Unknown
            | S::Inquiring
            | S::CancelRequested
            | S::Cancelled
            | S::NeedsOperator => invalid(),
        },
        E::NotSent => match state {
            S::Sent => moved(S::Created),
            S::Created => unchanged(),
            S::Succeeded
            | S::Failed
            | S::Unknown
            | S::Inquiring
            | S::CancelRequested
            | S::Cancelled
            | S::NeedsOperator => invalid(),
        },
        E::Succeeded => match state {
            S::Sent | S::Unknown | S::Inquiring => moved(S::Succeeded),
            S::Succeeded => unchanged(),
            S::CancelRequested => noted(Note::SuccessWhileCancelling),
            S::Cancelled => noted(Note::LateSuccessAfterCancel),
            S::NeedsOperator => noted(Note::LateSuccessForOperator),
            S::Created | S::Failed => invalid(),
        },
        E::Failed => match state {
            S::Sent | S::Unknown | S::Inquiring | S::CancelRequested | S::NeedsOperator => {
                moved(S::Failed)
            }
            // Nothing was charged either way.
            S::Failed | S::Cancelled => unchanged(),
            S::Created | S::Succeeded => invalid(),
        },
        E::Unknown => match state {
            S::Sent => moved(S::Unknown),
            // A late or repeated "unknown" adds nothing to what is known.
            S::Unknown
            | S::Inquiring
            | S::CancelRequested
            | S::NeedsOperator
            | S::Succeeded
            | S::Failed
            | S::Cancelled => unchanged(),
            S::Created => invalid(),
        },
        E::InquiryStarted => match state {
            S::Sent | S::Unknown => moved(S::Inquiring),
            S::Inquiring => unchanged(),
            // A resolution job that fires after the outcome is known does nothing.
            S::Succeeded | S::Failed | S::Cancelled | S::CancelRequested | S::NeedsOperator => {
                unchanged()
            }
            S::Created => invalid(),
        },
        E::StillUnknown => match state {
            S::Sent | S::Unknown => moved(S::Inquiring),
            S::Inquiring | S::CancelRequested | S::NeedsOperator => unchanged(),
            S::Succeeded | S::Failed | S::Cancelled => unchanged(),
            S::Created => invalid(),
        },
        E::Cancelled => match state {
            S::Sent
            | S::Unknown
            | S::Inquiring
            | S::CancelRequested
            | S::NeedsOperator
            | S::Succeeded => moved(S::Cancelled),
            S::Cancelled => unchanged(),
            // A failed payment charged nothing; "cancelled" adds nothing.
            S::Failed => unchanged(),
            S::Created => moved(S::Cancelled),
        },
        E::CancelRequested => match state {
            S::Sent | S::Unknown | S::Inquiring | S::Succeeded | S::NeedsOperator => {
                moved(S::CancelRequested)
            }
            S::CancelRequested | S::Cancelled | S::Failed => unchanged(),
            // Never sent: nothing to ask Alipay.
            S::Created => moved(S::Cancelled),
        },
        E::CancelImpossible => match state {
            S::CancelRequested => moved(S::NeedsOperator),
            S::NeedsOperator => unchanged(),
            S::Created
            | S::Sent
            | S::Succeeded
            | S::Failed
            | S::Unknown
            | S::Inquiring
            | S::Cancelled => invalid(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptEvent as E;
    use AttemptState as S;

    fn run(events: &[E]) -> Result<S, InvalidTransition> {
        events.iter().try_fold(S::Created, |s, e| {
            transition(s, *e).map(|step| step.state())
        })
    }

    #[test]
    fn unknown_resolves_by_inquiry_then_cancel() {
        assert_eq!(
            run(&[
                E::Send,
                E::Unknown,
                E::InquiryStarted,
                E::StillUnknown,
                E::Succeeded
            ]),
            Ok(S::Succeeded)
        );
        assert_eq!(
            run(&[
                E::Send,
                E::Unknown,
                E::InquiryStarted,
                E::CancelRequested,
                E::Cancelled
            ]),
            Ok(S::Cancelled)
        );
        assert_eq!(
            run(&[
                E::Send,
                E::Unknown,
                E::InquiryStarted,
                E::CancelRequested,
                E::CancelImpossible
            ]),
            Ok(S::NeedsOperator)
        );
    }

    #[test]
    fn a_late_success_after_cancel_is_recorded_never_a_second_success() {
        let cancelled =
            run(&[E::Send, E::Unknown, E::CancelRequested, E::Cancelled]).expect("legal");
        assert_eq!(
            transition(cancelled, E::Succeeded),
            Ok(Step::Noted(S::Cancelled, Note::LateSuccessAfterCancel))
        );
    }

    #[test]
    fn final_states_never_move_backwards() {
        for s in [S::Succeeded, S::Failed, S::Cancelled] {
            for e in E::ALL {
                if let Ok(step) = transition(s, e) {
                    let to = step.state();
                    assert!(
                        to == s
                            || (s == S::Succeeded
                                && matches!(to, S::Cancelled | S::CancelRequested)),
                        "{s:?} --{e:?}--> {to:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn contradictions_are_errors() {
        assert!(transition(S::Succeeded, E::Failed).is_err());
        assert!(transition(S::Failed, E::Succeeded).is_err());
        assert!(transition(S::Created, E::Succeeded).is_err());
    }

    #[test]
    fn duplicates_change_nothing() {
        for s in [S::Succeeded, S::Failed, S::Cancelled] {
            let event = match s {
                S::Succeeded => E::Succeeded,
                S::Failed => E::Failed,
                _ => E::Cancelled,
            };
            assert_eq!(transition(s, event), Ok(Step::Unchanged(s)));
        }
    }
}
