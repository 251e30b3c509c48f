//! A verified, parsed answer, classified by its `resultStatus`.

use ams_protocol::{AmsResponse, AmsResult, ResultStatus};

use crate::retry::AttemptClass;

/// Alipay's verified answer, by `result.resultStatus`.
///
/// The set is closed: a status this crate does not know is [`Outcome::Unknown`], never
/// [`Outcome::Failed`] — an unknown status may hide a success.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// `resultStatus` S: the call succeeded.
    Success(T),
    /// `resultStatus` F: the call failed for good; `result.resultCode` says why.
    Failed(T),
    /// `resultStatus` U, or a status value this crate does not know: the outcome is not known yet
    /// (call again with the same parameters, or inquire).
    Unknown(T),
}

impl<T: AmsResponse> Outcome<T> {
    /// Classifies a response by its `result.resultStatus`.
    #[must_use]
    pub fn from_response(response: T) -> Self {
        match response.result().status() {
            ResultStatus::S => Outcome::Success(response),
            ResultStatus::F => Outcome::Failed(response),
            _ => Outcome::Unknown(response),
        }
    }

    /// The `result` object.
    #[must_use]
    pub fn result(&self) -> &AmsResult {
        self.response().result()
    }
}

impl<T> Outcome<T> {
    /// The response, whatever the status.
    #[must_use]
    pub fn response(&self) -> &T {
        match self {
            Outcome::Success(r) | Outcome::Failed(r) | Outcome::Unknown(r) => r,
        }
    }

    /// The response, whatever the status.
    #[must_use]
    pub fn into_response(self) -> T {
        match self {
            Outcome::Success(r) | Outcome::Failed(r) | Outcome::Unknown(r) => r,
        }
    }

    /// `true` for [`Outcome::Success`].
    #[must_use]
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }

    /// `true` for [`Outcome::Failed`].
    #[must_use]
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }

    /// `true` for [`Outcome::Unknown`].
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(self, Outcome::Unknown(_))
    }

    /// The class the retry policy sees.
    #[must_use]
    pub fn class(&self) -> AttemptClass {
        match self {
            Outcome::Success(_) => AttemptClass::Success,
            Outcome::Failed(_) => AttemptClass::Failed,
            Outcome::Unknown(_) => AttemptClass::Unknown,
        }
    }

    /// Applies `f` to the response, keeping the class.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Success(r) => Outcome::Success(f(r)),
            Outcome::Failed(r) => Outcome::Failed(f(r)),
            Outcome::Unknown(r) => Outcome::Unknown(f(r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_protocol::{CancelResponse, ResultCode};

    fn with_status(status: &str) -> CancelResponse {
        CancelResponse::new(AmsResult::new(
            ResultCode::Success,
            ResultStatus::from_wire(status),
            "m",
        ))
    }

    #[test]
    fn statuses_map_to_outcomes() {
        assert!(Outcome::from_response(with_status("S")).is_success());
        assert!(Outcome::from_response(with_status("F")).is_failed());
        assert!(Outcome::from_response(with_status("U")).is_unknown());
        // Never treat an unrecognised status as failed.
        let odd = Outcome::from_response(with_status("X"));
        assert!(odd.is_unknown());
        assert_eq!(odd.class(), AttemptClass::Unknown);
        assert_eq!(odd.result().status().as_str(), "X");
        assert_eq!(odd.map(|_| 1).into_response(), 1);
    }
}
