//! A verified, parsed answer, classified by its `resultStatus`.

use std::fmt;

use ams_protocol::{AmsResponse, AmsResult, ResultStatus};

use crate::retry::AttemptClass;

/// Alipay's verified answer, by `result.resultStatus`.
///
/// The set is closed: a status this crate does not know is [`Outcome::Unknown`], never
/// [`Outcome::Failed`] — an unknown status may hide a success.
///
/// Where only a success will do (a `consult` or an `applyToken` in a script, a test), take the
/// shortcut: [`into_result`](Self::into_result) gives the response or an [`Unsuccessful`] error
/// that says what Alipay answered, and [`success`](Self::success) the response or `None`. Where
/// money moves (`pay`, `cancel`, `refund`), match all three: an `Unknown` is not a failure.
///
/// ```no_run
/// # async fn run(client: ams_client::AmsClient, consult: ams_protocol::ConsultRequest)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// // `?` twice: the call's error, then an answer other than S (F, U, or an unknown status).
/// let consulted = client.execute(&consult).await?.into_result()?;
/// let consent_page = consulted.normal_url.ok_or("no normalUrl")?;
/// # Ok(())
/// # }
/// ```
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

    /// The response of a [`Outcome::Success`], `None` for `Failed` and `Unknown`.
    ///
    /// Mind that `None` does not mean "failed": an `Unknown` may be a success not known yet. Use
    /// [`into_result`](Self::into_result) to keep the answer.
    #[must_use]
    pub fn success(self) -> Option<T> {
        match self {
            Outcome::Success(r) => Some(r),
            Outcome::Failed(_) | Outcome::Unknown(_) => None,
        }
    }

    /// `Ok` with the response of a [`Outcome::Success`]; otherwise an [`Unsuccessful`] error that
    /// keeps the answer and says whether it is final (`F`) or unknown (`U`: inquire or call again).
    ///
    /// Its `Display` names the status, `resultCode` and `resultMessage`, so
    /// `client.execute(&request).await?.into_result()?` reads well in a `Box<dyn Error>` function.
    ///
    /// # Errors
    /// [`Unsuccessful`] for [`Outcome::Failed`] and [`Outcome::Unknown`].
    pub fn into_result(self) -> Result<T, Unsuccessful<T>> {
        match self {
            Outcome::Success(r) => Ok(r),
            other => Err(Unsuccessful(other)),
        }
    }
}

/// A verified answer other than S, from [`Outcome::into_result`]: [`Outcome::Failed`] (final) or
/// [`Outcome::Unknown`] (the outcome is not known yet).
///
/// `Display` says which, with Alipay's `resultCode` and `resultMessage`; the response is kept
/// ([`response`](Self::response), [`into_outcome`](Self::into_outcome)).
///
/// ```
/// use ams_client::Outcome;
/// use ams_protocol::{AmsResult, CancelResponse, ResultCode, ResultStatus};
///
/// let refused = CancelResponse::new(AmsResult::new(
///     ResultCode::from_wire("ORDER_NOT_EXIST"),
///     ResultStatus::F,
///     "The order does not exist.",
/// ));
/// let error = Outcome::from_response(refused).into_result().unwrap_err();
/// assert!(error.is_final());
/// assert_eq!(
///     error.to_string(),
///     "Alipay answered F (final) with resultCode ORDER_NOT_EXIST: The order does not exist."
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Unsuccessful<T>(Outcome<T>);

impl<T> Unsuccessful<T> {
    /// `true` for a `Failed` answer (`F`): final, nothing happened.
    #[must_use]
    pub fn is_final(&self) -> bool {
        self.0.is_failed()
    }

    /// `true` for an `Unknown` answer (`U`, or a status this crate does not know): inquire or call
    /// again with the same request; never treat it as failed.
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        self.0.is_unknown()
    }

    /// The response Alipay sent.
    #[must_use]
    pub fn response(&self) -> &T {
        self.0.response()
    }

    /// The answer as an [`Outcome`] (`Failed` or `Unknown`).
    #[must_use]
    pub fn into_outcome(self) -> Outcome<T> {
        self.0
    }
}

impl<T: AmsResponse> Unsuccessful<T> {
    /// The `result` object.
    #[must_use]
    pub fn result(&self) -> &AmsResult {
        self.0.result()
    }
}

impl<T: AmsResponse> fmt::Display for Unsuccessful<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let result = self.0.result();
        let meaning = if self.0.is_failed() {
            "final"
        } else {
            "the outcome is unknown: inquire, or call again with the same request"
        };
        write!(
            f,
            "Alipay answered {} ({meaning}) with resultCode {}",
            result.status().as_str(),
            result.code().as_str()
        )?;
        match result.message() {
            Some(message) if !message.is_empty() => write!(f, ": {message}"),
            _ => Ok(()),
        }
    }
}

impl<T: AmsResponse + fmt::Debug> std::error::Error for Unsuccessful<T> {}

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

    #[test]
    fn shortcuts_give_the_success_or_say_what_was_answered() {
        let success = with_status("S");
        assert_eq!(
            Outcome::from_response(success.clone()).into_result(),
            Ok(success.clone())
        );
        assert_eq!(
            Outcome::from_response(success.clone()).success(),
            Some(success)
        );

        let failed = Outcome::from_response(with_status("F"));
        assert_eq!(failed.clone().success(), None);
        let error = failed.clone().into_result().unwrap_err();
        assert!(error.is_final() && !error.is_unknown());
        assert_eq!(error.result().status().as_str(), "F");
        assert_eq!(
            error.to_string(),
            "Alipay answered F (final) with resultCode SUCCESS: m"
        );
        assert_eq!(error.into_outcome(), failed);

        // An unknown status is never reported as final.
        for status in ["U", "X"] {
            let unknown = Outcome::from_response(with_status(status));
            assert_eq!(unknown.clone().success(), None);
            let error = unknown.into_result().unwrap_err();
            assert!(error.is_unknown() && !error.is_final());
            assert_eq!(
                error.to_string(),
                format!(
                    "Alipay answered {status} (the outcome is unknown: inquire, or call again \
                     with the same request) with resultCode SUCCESS: m"
                )
            );
        }
        // Usable with `?` in a `Box<dyn Error>` function.
        let boxed: Box<dyn std::error::Error> = Outcome::from_response(with_status("F"))
            .into_result()
            .unwrap_err()
            .into();
        assert!(boxed.to_string().starts_with("Alipay answered F"));
    }
}
