//! The payment attempt lifecycle: one `paymentRequestId` with its exact parameters.
//!
//! ```text
//! Created ──send──▶ Sent ──S──▶ Succeeded ───────────────────────┐ merchant cancel
//!    ▲ not sent      │ F ─────▶ Failed                           ▼
//!    └───────────────┤ U, timeout, no answer              CancelRequested ──cancel S──▶ Cancelled
//!                    ▼                                        ▲    │ window passed, refused, or
//!                 Unknown ──inquire──▶ Inquiring ─────────────┘    │ ORDER_NOT_EXIST past the expiry
//!                    │ SUCCESS / FAIL / CANCELLED    inquiries     ▼
//!                    ▼                                run out  Confirming ──inquire until final──▶
//!        Succeeded / Failed / Cancelled                            Succeeded (then refunded) /
//!                                                                  Failed / Cancelled
//! ```
//!
//! Nothing is a dead end: every state that is not final has a job that moves it on (see
//! `services::payments`). A reported success (`pay` S, a notification) is a fact about the past:
//! once a cancel is, or was, under way, it changes nothing (seed 004: go by the cancel's result);
//! if the cancel cannot be done, the payment is inquired until Alipay says it is final
//! (`Confirming`), and a success found *by inquiry* then is paid and refunded. A `pay` that had not
//! reached Alipay by its `paymentExpiryTime` (plus a margin) can no longer debit: then "no such
//! payment" settles it ([`AttemptEvent::ExpiredUnseen`]). A success after a `cancel` S is recorded
//! ([`Note::LateSuccessAfterCancel`]: the cancel returned that money), never a second success. A
//! failure after a success, or a success after a failure, contradicts Alipay and is an error.

use super::{InvalidTransition, Note, Step};

/// Where a payment attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptState {
    /// Stored with its exact parameters; not sent.
    Created,
    /// `pay` is (or may be) on its way.
    Sent,
    /// Paid. Final, unless the merchant cancels it inside the window.
    Succeeded,
    /// Not paid. Final.
    Failed,
    /// `U`, a timeout, or no answer: the outcome is not known.
    Unknown,
    /// Being resolved by `inquiryPayment`.
    Inquiring,
    /// Being cancelled (the inquiries did not resolve it, or the merchant asked): the cancel is
    /// sent, and sent again, until Alipay answers it or the cancel window closes.
    CancelRequested,
    /// The cancel could not be done (window passed, or refused): inquired until Alipay says the
    /// payment is final; if it was paid, it is refunded.
    Confirming,
    /// Cancelled: nothing charged, or the charge returned. Final.
    Cancelled,
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
            Self::Confirming => "confirming",
            Self::Cancelled => "cancelled",
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
        Self::Confirming,
        Self::Cancelled,
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
            | Self::Confirming => false,
        }
    }

    /// Whether the attempt is settled and holds no money (failed or cancelled): only then may the
    /// order be paid again with a new attempt.
    pub fn is_final_and_unpaid(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled)
    }

    /// Whether the outcome is still being found out by inquiry (before any cancel).
    pub fn is_unresolved(self) -> bool {
        matches!(self, Self::Sent | Self::Unknown | Self::Inquiring)
    }
}

/// What can happen to a payment attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptEvent {
    /// `pay` is about to be sent.
    Send,
    /// The request surely did not leave (build, sign or connection refused).
    NotSent,
    /// Paid now: an inquiry answered `SUCCESS` (the payment's current status).
    Succeeded,
    /// Paid when it was reported: `pay` S or a success notification. A cancel sent since may have
    /// reversed it, so while one is (or was) under way it only prompts the cancel or an inquiry.
    SuccessReported,
    /// Not paid: `pay` F, inquiry `FAIL`, or a failure notification.
    Failed,
    /// `pay` answered `U`, timed out, or its answer was lost or unverifiable.
    Unknown,
    /// An inquiry did not settle it (`PROCESSING`, `U`, not found yet).
    StillUnknown,
    /// Cancelled: inquiry `CANCELLED`, or `cancel` S.
    Cancelled,
    /// Alipay has no payment with this id, and the attempt's expiry (plus the margin) has passed,
    /// so none can be created any more: nothing was charged.
    ExpiredUnseen,
    /// A cancel is wanted (inquiries exhausted, or the merchant asked).
    CancelRequested,
    /// The cancel cannot be done (the window closed, or Alipay refused it): confirm by inquiry.
    CancelImpossible,
}

impl AttemptEvent {
    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::NotSent => "not_sent",
            Self::Succeeded => "succeeded",
            Self::SuccessReported => "success_reported",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::StillUnknown => "still_unknown",
            Self::Cancelled => "cancelled",
            Self::ExpiredUnseen => "expired_unseen",
            Self::CancelRequested => "cancel_requested",
            Self::CancelImpossible => "cancel_impossible",
        }
    }

    /// Every event.
    pub const ALL: [AttemptEvent; 11] = [
        Self::Send,
        Self::NotSent,
        Self::Succeeded,
        Self::SuccessReported,
        Self::Failed,
        Self::Unknown,
        Self::StillUnknown,
        Self::Cancelled,
        Self::ExpiredUnseen,
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
            | S::Confirming
            | S::Cancelled => invalid(),
        },
        E::NotSent => match state {
            S::Sent => moved(S::Created),
            S::Created => unchanged(),
            S::Succeeded
            | S::Failed
            | S::Unknown
            | S::Inquiring
            | S::CancelRequested
            | S::Confirming
            | S::Cancelled => invalid(),
        },
        E::Succeeded => match state {
            S::Sent | S::Unknown | S::Inquiring | S::Confirming => moved(S::Succeeded),
            S::Succeeded => unchanged(),
            // Seed 004: once a cancel is under way, its result decides.
            S::CancelRequested => noted(Note::SuccessWhileCancelling),
            S::Cancelled => noted(Note::LateSuccessAfterCancel),
            S::Created | S::Failed => invalid(),
        },
        E::SuccessReported => match state {
            S::Sent | S::Unknown | S::Inquiring => moved(S::Succeeded),
            S::Succeeded => unchanged(),
            // A cancel is, or was, under way: it may have reversed what was reported. The cancel's
            // result, or an inquiry, decides (seed 004).
            S::CancelRequested | S::Confirming => noted(Note::SuccessWhileCancelling),
            S::Cancelled => noted(Note::LateSuccessAfterCancel),
            S::Created | S::Failed => invalid(),
        },
        E::Failed => match state {
            S::Sent | S::Unknown | S::Inquiring | S::Confirming => moved(S::Failed),
            // Seed 004: once a cancel is under way, its result decides.
            S::CancelRequested => unchanged(),
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
            | S::Confirming
            | S::Succeeded
            | S::Failed
            | S::Cancelled => unchanged(),
            S::Created => invalid(),
        },
        E::StillUnknown => match state {
            S::Sent | S::Unknown => moved(S::Inquiring),
            S::Inquiring | S::CancelRequested | S::Confirming => unchanged(),
            S::Succeeded | S::Failed | S::Cancelled => unchanged(),
            S::Created => invalid(),
        },
        E::Cancelled => match state {
            S::Sent
            | S::Unknown
            | S::Inquiring
            | S::CancelRequested
            | S::Confirming
            | S::Succeeded
            | S::Created => moved(S::Cancelled),
            S::Cancelled => unchanged(),
            // A failed payment charged nothing; "cancelled" adds nothing.
            S::Failed => unchanged(),
        },
        E::ExpiredUnseen => match state {
            // Never reached Alipay: failed, or cancelled when a cancel was wanted.
            S::Sent | S::Unknown | S::Inquiring => moved(S::Failed),
            S::CancelRequested | S::Confirming => moved(S::Cancelled),
            S::Failed | S::Cancelled => unchanged(),
            // Alipay said it was paid: "no such payment" contradicts that.
            S::Created | S::Succeeded => invalid(),
        },
        E::CancelRequested => match state {
            // Confirming: a person asks for the refused cancel again, inside the window.
            S::Sent | S::Unknown | S::Inquiring | S::Succeeded | S::Confirming => {
                moved(S::CancelRequested)
            }
            S::CancelRequested | S::Cancelled | S::Failed => unchanged(),
            // Never sent: nothing to ask Alipay.
            S::Created => moved(S::Cancelled),
        },
        E::CancelImpossible => match state {
            S::CancelRequested => moved(S::Confirming),
            S::Confirming => unchanged(),
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
    fn unknown_resolves_by_inquiry_then_cancel_then_confirmation() {
        assert_eq!(
            run(&[E::Send, E::Unknown, E::StillUnknown, E::Succeeded]),
            Ok(S::Succeeded)
        );
        assert_eq!(
            run(&[E::Send, E::Unknown, E::CancelRequested, E::Cancelled]),
            Ok(S::Cancelled)
        );
        assert_eq!(
            run(&[
                E::Send,
                E::Unknown,
                E::CancelRequested,
                E::CancelImpossible,
                E::Succeeded
            ]),
            Ok(S::Succeeded)
        );
        assert_eq!(
            run(&[E::Send, E::Unknown, E::CancelRequested, E::ExpiredUnseen]),
            Ok(S::Cancelled)
        );
        assert_eq!(run(&[E::Send, E::Unknown, E::ExpiredUnseen]), Ok(S::Failed));
    }

    #[test]
    fn no_state_but_the_final_ones_is_a_dead_end() {
        // Every state that is not final can still reach a final one.
        for start in S::ALL.into_iter().filter(|s| !s.is_final()) {
            let mut frontier = vec![start];
            let mut seen = vec![start];
            let mut reaches_final = false;
            while let Some(s) = frontier.pop() {
                for e in E::ALL {
                    if let Ok(step) = transition(s, e) {
                        let to = step.state();
                        reaches_final |= to.is_final();
                        if !seen.contains(&to) {
                            seen.push(to);
                            frontier.push(to);
                        }
                    }
                }
            }
            assert!(reaches_final, "{start:?}");
        }
    }

    #[test]
    fn a_reported_success_while_cancelling_or_confirming_waits_for_the_truth() {
        let confirming =
            run(&[E::Send, E::Unknown, E::CancelRequested, E::CancelImpossible]).expect("legal");
        assert_eq!(
            transition(confirming, E::SuccessReported),
            Ok(Step::Noted(S::Confirming, Note::SuccessWhileCancelling))
        );
        assert_eq!(
            transition(confirming, E::Succeeded),
            Ok(Step::Moved(S::Succeeded)),
            "an inquiry is the current truth"
        );
        let cancelling = run(&[E::Send, E::Unknown, E::CancelRequested]).expect("legal");
        assert_eq!(
            transition(cancelling, E::SuccessReported),
            Ok(Step::Noted(
                S::CancelRequested,
                Note::SuccessWhileCancelling
            ))
        );
        assert_eq!(
            transition(cancelling, E::Failed),
            Ok(Step::Unchanged(S::CancelRequested))
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
        assert!(transition(S::Succeeded, E::ExpiredUnseen).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::from_name(s.name()), Some(s));
        }
    }
}
