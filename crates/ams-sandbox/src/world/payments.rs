//! Payments: pay, inquiryPayment, cancel, refund and inquiryRefund, processing payments and their expiry.

use ams_protocol::{
    Amount, AmsResult, CancelRequest, CancelResponse, InquiryPaymentRequest,
    InquiryPaymentResponse, InquiryRefundRequest, InquiryRefundResponse, NotifyPayment,
    NotifyRefund, PayRequest, PayResponse, PaymentNotifyType, PaymentStatus, RefundRequest,
    RefundResponse, RefundStatus, ResultCode, TerminalType, Transaction, TransactionStatus,
    TransactionType,
};

use ams_protocol::cancel_deadline_millis as cancel_deadline_ms;

use super::{
    PayState, Payment, PaymentDecision, PaymentPage, PaymentPageError, Refund, TokenState, User,
    WalletLinks, World, result,
};
use crate::model::{
    AccountStatus, Completion, EntryKind, EntryReason, NotificationKind, OvertakenPay, PaymentMode,
};
use crate::util::{ams_time, date_digits, random_digits};

impl World {
    fn pay_response(&self, index: usize) -> PayResponse {
        let p = &self.payments[index];
        let mut response = match p.state {
            PayState::Success => PayResponse::new(AmsResult::success()),
            PayState::Processing | PayState::Pending => PayResponse::new(result(
                ResultCode::PaymentInProcess,
                "The payment is being processed.",
            )),
            PayState::Fail => {
                PayResponse::new(result(p.result_code.clone(), "The payment failed."))
            }
            PayState::Cancelled => PayResponse::new(result(
                ResultCode::OrderIsClosed,
                "The payment was cancelled.",
            )),
        };
        response.payment_request_id = Some(p.payment_request_id.clone().into());
        if p.state != PayState::Fail {
            response.payment_id = Some(p.payment_id.clone().into());
            response.payment_amount = Some(p.amount);
            response.payment_create_time = Some(ams_time(p.created_ms));
            response.payment_time = p.paid_ms.map(ams_time);
        }
        // The wallet needs the user: while it waits, every answer says where they confirm.
        if p.state == PayState::Processing
            && let Some(links) = &p.wallet_links
        {
            response.normal_url = Some(links.normal_url.clone());
            if let Some((scheme, applink, app)) = &links.app {
                response.scheme_url = Some(scheme.clone());
                response.applink_url = Some(applink.clone());
                response.app_identifier = Some(app.clone());
            }
        }
        response
    }

    fn notify_payment(&mut self, index: usize, now: i64) {
        let p = &self.payments[index];
        // PAYMENT_PENDING: the user completed the payment, the result is not final (§4.2). Its
        // `result` is S (U was removed from notifyPayment in 2022): a merchant that reads
        // `result` without `notifyType` takes it for paid.
        let (kind, outcome) = match p.state {
            PayState::Success => (PaymentNotifyType::PaymentResult, AmsResult::success()),
            PayState::Fail => (
                PaymentNotifyType::PaymentResult,
                result(p.result_code.clone(), "The payment failed."),
            ),
            PayState::Pending => (PaymentNotifyType::PaymentPending, AmsResult::success()),
            PayState::Processing | PayState::Cancelled => return,
        };
        let mut notify = NotifyPayment::new(
            kind,
            outcome,
            p.payment_request_id.clone(),
            p.payment_id.clone(),
            p.amount,
        );
        notify.payment_create_time = Some(ams_time(p.created_ms));
        notify.payment_time = p.paid_ms.map(ams_time);
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let url = p.notify_url.clone().or_else(|| {
            self.merchant_settings(&p.client_id)
                .and_then(|m| m.payment_notify_url)
        });
        let (client, request_id) = (p.client_id.clone(), p.payment_request_id.clone());
        self.enqueue(
            NotificationKind::Payment,
            &client,
            url,
            &request_id,
            body,
            now,
        );
    }

    /// Checks the user can pay this amount now; the failing code otherwise.
    fn refusal(&self, user: &User, amount: Amount, check_balance: bool) -> Option<ResultCode> {
        let spec = &user.spec;
        match spec.status {
            AccountStatus::Closed => return Some(ResultCode::UserNotExist),
            AccountStatus::Abnormal => return Some(ResultCode::UserStatusAbnormal),
            AccountStatus::Normal => {}
        }
        if spec.risk_reject {
            return Some(ResultCode::RiskReject);
        }
        let Some(balance) = spec.balances.iter().find(|b| b.currency == amount.currency) else {
            return Some(ResultCode::CurrencyNotSupport);
        };
        if let Some(limit) = spec.per_payment_limit
            && limit.currency == amount.currency
            && amount.minor_units() > limit.minor_units()
        {
            return Some(ResultCode::UserAmountExceedLimit);
        }
        if spec
            .max_payments
            .is_some_and(|max| user.payments_made >= max)
        {
            return Some(ResultCode::PaymentCountExceedLimit);
        }
        if check_balance && balance.minor_units() < amount.minor_units() {
            return Some(ResultCode::UserBalanceNotEnough);
        }
        None
    }

    /// Takes the money: the ledger's one debit of this payment.
    fn take_money(&mut self, index: usize, now: i64) {
        let amount = self.payments[index].amount;
        self.post(
            now,
            index,
            EntryKind::Debit,
            EntryReason::Payment,
            amount,
            None,
        );
        let p = &mut self.payments[index];
        p.debited = true;
        if let Some(user) = p.user.clone().and_then(|u| self.users.get_mut(&u)) {
            user.payments_made += 1;
        }
    }

    /// The payment is final and successful at `at_ms` (its `paymentTime`).
    fn succeed(&mut self, index: usize, at_ms: i64) {
        let p = &mut self.payments[index];
        p.state = PayState::Success;
        p.result_code = ResultCode::Success;
        p.paid_ms = Some(at_ms);
        p.pending_until = None;
    }

    fn debit(&mut self, index: usize, now: i64) {
        self.take_money(index, now);
        self.succeed(index, now);
    }

    /// `pay`. `payment_page_base` is where the wallet's payment page lives
    /// ([`crate::call::WalletUrls::payments`]), for a [`PaymentMode::NeedsUser`] payment's URLs.
    pub(crate) fn pay(
        &mut self,
        client_id: &str,
        req: &PayRequest,
        payment_page_base: &str,
        now: i64,
    ) -> PayResponse {
        let key = (
            client_id.to_owned(),
            req.payment_request_id.as_str().to_owned(),
        );
        let method_id = req
            .payment_method
            .payment_method_id
            .as_ref()
            .map(|m| m.expose_secret().to_owned())
            .unwrap_or_default();
        if let Some(&index) = self.payment_by_request.get(&key) {
            let p = &self.payments[index];
            if p.amount != req.payment_amount || p.payment_method_id != method_id {
                let mut response = PayResponse::new(result(
                    ResultCode::RepeatReqInconsistent,
                    "The paymentRequestId was used with a different paymentAmount or paymentMethodId.",
                ));
                response.payment_request_id = Some(req.payment_request_id.clone());
                return response;
            }
            return self.pay_response(index);
        }
        // A secondary merchant that must be registered and is not: refused, nothing recorded.
        let secondary = req
            .order
            .merchant
            .as_ref()
            .and_then(|m| m.reference_merchant_id.as_deref());
        if let Some(refusal) = self.unregistered_secondary_merchant(client_id, secondary) {
            let mut response = PayResponse::new(refusal);
            response.payment_request_id = Some(req.payment_request_id.clone());
            return response;
        }
        // A pay that a cancel overtook (OvertakenPay::Closed left a tombstone), or one arriving at
        // or after its own paymentExpiryTime, takes no effect: it is recorded as failed with
        // ORDER_IS_CLOSED, so an inquiry finds it FAIL and a retry gets the same answer.
        let overtaken = self.closed_requests.contains(&key);
        let explicit_expiry = req
            .payment_expiry_time
            .as_ref()
            .and_then(|t| t.unix_millis().ok());
        let expired = explicit_expiry.is_some_and(|expiry| now >= expiry);
        // Without an expiry of its own, a payment expires a minute after it arrives (a held pay:
        // after its release, as any fresh arrival).
        let expires_ms =
            explicit_expiry.unwrap_or(now.saturating_add(self.lifetimes.payment_expiry_ms));
        let token = self
            .token_by_access
            .get(&method_id)
            .map(|&i| &self.tokens[i])
            .filter(|t| {
                t.client_id == client_id
                    && t.wallet == req.payment_method.payment_method_type
                    && t.state == TokenState::Active
                    && now <= t.access_expires_ms
            });
        let user = token.map(|t| t.user.clone());
        let refusal = match &user {
            _ if overtaken || expired => Some(ResultCode::OrderIsClosed),
            None => Some(ResultCode::InvalidAccessToken),
            Some(login) => match self.users.get(login) {
                None => Some(ResultCode::UserNotExist),
                // Instant and pending payments take the money now; a processing one (or one
                // that needs the user) when the user confirms.
                Some(u) => self.refusal(
                    u,
                    req.payment_amount,
                    !matches!(
                        u.spec.payment_mode,
                        PaymentMode::Processing | PaymentMode::NeedsUser
                    ),
                ),
            },
        };
        let mode = user
            .as_ref()
            .and_then(|u| self.users.get(u))
            .map_or(PaymentMode::Instant, |u| u.spec.payment_mode);
        let payment_id = format!("{}{}", date_digits(now), random_digits(24));
        let index = self.payments.len();
        self.payments.push(Payment {
            client_id: client_id.to_owned(),
            payment_request_id: key.1.clone(),
            payment_id: payment_id.clone(),
            user,
            amount: req.payment_amount,
            payment_method_id: method_id,
            state: PayState::Processing,
            result_code: ResultCode::PaymentInProcess,
            created_ms: now,
            paid_ms: None,
            expires_ms,
            cancel_ms: None,
            pending_until: None,
            debited: false,
            notify_url: req.payment_notify_url.clone(),
            refunded: 0,
            refunds: Vec::new(),
            wallet_links: None,
            redirect_url: req.payment_redirect_url.clone(),
        });
        self.payment_by_request.insert(key, index);
        self.payment_by_id.insert(payment_id.clone(), index);
        match refusal {
            Some(code) => {
                let p = &mut self.payments[index];
                p.state = PayState::Fail;
                p.result_code = code;
                self.notify_payment(index, now);
            }
            None if mode == PaymentMode::Instant => {
                self.debit(index, now);
                self.notify_payment(index, now);
            }
            None if mode == PaymentMode::Pending => {
                // The harsher reading of PENDING ("paid, waiting for the final result"): the
                // money is gone now while the status says pending.
                self.take_money(index, now);
                let delay =
                    i64::try_from(self.settings.payment_pending_delay_ms).unwrap_or(i64::MAX);
                let p = &mut self.payments[index];
                p.state = PayState::Pending;
                p.pending_until = Some(now.saturating_add(delay));
                self.notify_payment(index, now);
            }
            None if mode == PaymentMode::NeedsUser => {
                // As Processing, and the answer says where the user confirms (kept, so every
                // identical retry while it waits says the same).
                let normal_url = format!("{payment_page_base}/{payment_id}");
                let app = matches!(
                    req.env.terminal_type,
                    TerminalType::App | TerminalType::Wap | TerminalType::MiniApp
                )
                .then(|| {
                    (
                        format!("alipay-sandbox://pay?payment={payment_id}"),
                        format!("{normal_url}?applink=1"),
                        "com.example.sandbox.wallet".to_owned(),
                    )
                });
                self.payments[index].wallet_links = Some(WalletLinks {
                    wallet: req.payment_method.payment_method_type.clone(),
                    normal_url,
                    app,
                });
            }
            None => {} // Processing: the user must confirm, or the payment expires.
        }
        self.pay_response(index)
    }

    /// The payment waiting for the user on the wallet's payment page, by `paymentId`, after what
    /// fell due by `now` happened (an expiry passed: it has failed).
    fn waiting_for_user(&mut self, payment_id: &str, now: i64) -> Result<usize, PaymentPageError> {
        self.sweep(now);
        let index = *self
            .payment_by_id
            .get(payment_id)
            .ok_or(PaymentPageError::NotFound)?;
        let p = &self.payments[index];
        if p.wallet_links.is_none() {
            return Err(PaymentPageError::NotFound);
        }
        match p.state {
            PayState::Processing => Ok(index),
            PayState::Cancelled => Err(PaymentPageError::Cancelled),
            PayState::Success | PayState::Pending => {
                Err(PaymentPageError::Completed { paid: true })
            }
            PayState::Fail if p.result_code == ResultCode::OrderIsClosed => {
                Err(PaymentPageError::Expired)
            }
            PayState::Fail => Err(PaymentPageError::Completed { paid: false }),
        }
    }

    /// What the wallet's payment page shows for a payment waiting for the user.
    pub(crate) fn payment_page(
        &mut self,
        payment_id: &str,
        now: i64,
    ) -> Result<PaymentPage, PaymentPageError> {
        let index = self.waiting_for_user(payment_id, now)?;
        let p = &self.payments[index];
        let wallet = p
            .wallet_links
            .as_ref()
            .map(|l| l.wallet.clone())
            .ok_or(PaymentPageError::NotFound)?;
        Ok(PaymentPage {
            merchant: self.merchant_name(&p.client_id),
            wallet,
            amount: p.amount,
        })
    }

    /// The user pays (`pay`: the balance and limit checks apply now; a refused check fails the
    /// payment with its code) or declines (`PROCESS_FAIL`) on the wallet's payment page, exactly
    /// as a completion through the control API; the result is notified.
    pub(crate) fn decide_payment(
        &mut self,
        payment_id: &str,
        pay: bool,
        now: i64,
    ) -> Result<PaymentDecision, PaymentPageError> {
        let index = self.waiting_for_user(payment_id, now)?;
        let how = if pay {
            Completion::Success
        } else {
            Completion::Fail
        };
        self.finish_processing(index, how, ResultCode::ProcessFail, now);
        let p = &self.payments[index];
        Ok(PaymentDecision {
            failure: (p.state != PayState::Success).then(|| p.result_code.clone()),
            redirect_url: p.redirect_url.clone(),
        })
    }

    /// A payment held in PROCESSING ends (the user confirmed or declined in the wallet).
    pub(crate) fn complete_payment(
        &mut self,
        client_id: Option<&str>,
        payment_request_id: &str,
        how: Completion,
        now: i64,
    ) -> Result<(), String> {
        // A payment whose expiry passed has failed, whether or not anyone looked since.
        self.sweep(now);
        let index = self
            .payments
            .iter()
            .position(|p| {
                p.payment_request_id == payment_request_id
                    && client_id.is_none_or(|c| c == p.client_id)
            })
            .ok_or_else(|| format!("no payment {payment_request_id:?}"))?;
        if self.payments[index].state != PayState::Processing {
            return Err(format!("payment {payment_request_id:?} is not processing"));
        }
        self.finish_processing(index, how, ResultCode::ProcessFail, now);
        Ok(())
    }

    fn finish_processing(
        &mut self,
        index: usize,
        how: Completion,
        fail_code: ResultCode,
        now: i64,
    ) {
        let refusal = match (
            how,
            self.payments[index]
                .user
                .as_ref()
                .and_then(|u| self.users.get(u)),
        ) {
            (Completion::Fail, _) => Some(fail_code),
            (Completion::Success, None) => Some(ResultCode::UserNotExist),
            (Completion::Success, Some(user)) => {
                self.refusal(user, self.payments[index].amount, true)
            }
        };
        match refusal {
            None => self.debit(index, now),
            Some(code) => {
                let p = &mut self.payments[index];
                p.state = PayState::Fail;
                p.result_code = code;
            }
        }
        self.notify_payment(index, now);
    }

    /// Fails every processing payment whose expiry has passed. Returns the next expiry, if any.
    pub(super) fn expire_payments(&mut self, now: i64) -> Option<i64> {
        let expired: Vec<usize> = (0..self.payments.len())
            .filter(|&i| {
                self.payments[i].state == PayState::Processing && now > self.payments[i].expires_ms
            })
            .collect();
        for index in expired {
            self.finish_processing(index, Completion::Fail, ResultCode::OrderIsClosed, now);
        }
        self.payments
            .iter()
            .filter(|p| p.state == PayState::Processing)
            .map(|p| p.expires_ms.saturating_add(1))
            .min()
    }

    /// Pending payments whose time has come succeed (the money was taken when they were
    /// accepted), in the order they fall due, each with `PAYMENT_RESULT`. Returns the next such
    /// time, if any.
    pub(super) fn end_pending_payments(&mut self, now: i64) -> Option<i64> {
        let mut due: Vec<(i64, usize)> = self
            .payments
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PayState::Pending)
            .filter_map(|(i, p)| p.pending_until.map(|at| (at, i)))
            .collect();
        due.sort_unstable();
        let mut next = None;
        for (at, index) in due {
            if at > now {
                next = Some(next.map_or(at, |n: i64| n.min(at)));
                continue;
            }
            self.succeed(index, at);
            self.notify_payment(index, now);
        }
        next
    }

    pub(super) fn find_payment(
        &self,
        client_id: &str,
        payment_id: Option<&str>,
        payment_request_id: Option<&str>,
    ) -> Option<usize> {
        let index = match (payment_id, payment_request_id) {
            (Some(id), _) => self.payment_by_id.get(id).copied(),
            (None, Some(request)) => self
                .payment_by_request
                .get(&(client_id.to_owned(), request.to_owned()))
                .copied(),
            (None, None) => None,
        }?;
        (self.payments[index].client_id == client_id).then_some(index)
    }

    pub(crate) fn inquiry_payment(
        &self,
        client_id: &str,
        req: &InquiryPaymentRequest,
    ) -> InquiryPaymentResponse {
        let Some(index) = self.find_payment(
            client_id,
            req.payment_id.as_ref().map(|i| i.as_str()),
            req.payment_request_id.as_ref().map(|i| i.as_str()),
        ) else {
            return InquiryPaymentResponse::new(result(
                ResultCode::OrderNotExist,
                "The payment does not exist.",
            ));
        };
        let p = &self.payments[index];
        let mut response = InquiryPaymentResponse::new(AmsResult::success());
        let (status, code) = match p.state {
            PayState::Success => (PaymentStatus::Success, ResultCode::Success),
            PayState::Fail => (PaymentStatus::Fail, p.result_code.clone()),
            PayState::Processing => (PaymentStatus::Processing, ResultCode::PaymentInProcess),
            PayState::Pending => (PaymentStatus::Pending, ResultCode::PaymentInProcess),
            PayState::Cancelled => (PaymentStatus::Cancelled, ResultCode::OrderIsClosed),
        };
        response.payment_status = Some(status);
        response.payment_result_message = Some(code.as_str().to_owned());
        response.payment_result_code = Some(code);
        response.payment_request_id = Some(p.payment_request_id.clone().into());
        response.payment_id = Some(p.payment_id.clone().into());
        response.payment_amount = Some(p.amount);
        response.payment_create_time = Some(ams_time(p.created_ms));
        response.payment_time = p.paid_ms.map(ams_time);
        let mut transactions: Vec<Transaction> = p
            .refunds
            .iter()
            .map(|&r| {
                let refund = &self.refunds[r];
                let status = refund.status();
                let mut t = Transaction::default();
                t.transaction_result = Some(self.refund_response(r).result);
                t.transaction_id = Some(refund.refund_id.clone());
                t.transaction_type = Some(TransactionType::Refund);
                t.transaction_status = Some(status.clone());
                t.transaction_amount = Some(refund.amount);
                t.transaction_request_id = Some(refund.refund_request_id.clone());
                t.transaction_time =
                    (status != TransactionStatus::Processing).then(|| ams_time(refund.time_ms));
                t
            })
            .collect();
        if let Some(cancel_ms) = p.cancel_ms {
            let mut t = Transaction::default();
            t.transaction_result = Some(AmsResult::success());
            t.transaction_type = Some(TransactionType::Cancel);
            t.transaction_status = Some(TransactionStatus::Success);
            t.transaction_amount = Some(p.amount);
            t.transaction_time = Some(ams_time(cancel_ms));
            transactions.push(t);
        }
        if !transactions.is_empty() {
            response.transactions = Some(transactions);
        }
        response
    }

    pub(crate) fn cancel(
        &mut self,
        client_id: &str,
        req: &CancelRequest,
        now: i64,
    ) -> CancelResponse {
        let Some(index) = self.find_payment(
            client_id,
            req.payment_id.as_ref().map(|i| i.as_str()),
            req.payment_request_id.as_ref().map(|i| i.as_str()),
        ) else {
            self.overtaken_by_cancel(client_id, req);
            return CancelResponse::new(result(
                ResultCode::OrderNotExist,
                "The payment does not exist.",
            ));
        };
        let p = &self.payments[index];
        let answer = |p: &Payment| {
            let mut response = CancelResponse::new(AmsResult::success());
            response.payment_id = Some(p.payment_id.clone().into());
            response.payment_request_id = Some(p.payment_request_id.clone().into());
            response.cancel_time = p.cancel_ms.map(ams_time);
            response
        };
        if p.state == PayState::Cancelled {
            return answer(p);
        }
        if now > cancel_deadline_ms(p.created_ms) {
            return CancelResponse::new(result(
                ResultCode::CancelWindowExceed,
                "The cancel window (00:15 UTC+8 on the day after the payment) has passed; refund instead.",
            ));
        }
        if p.refunds.iter().any(|&r| self.refunds[r].failure.is_none()) {
            return CancelResponse::new(result(
                ResultCode::OrderStatusInvalid,
                "A refunded payment cannot be cancelled.",
            ));
        }
        if p.debited {
            let amount = p.amount;
            self.post(
                now,
                index,
                EntryKind::Credit,
                EntryReason::Cancel,
                amount,
                None,
            );
        }
        let p = &mut self.payments[index];
        p.state = PayState::Cancelled;
        p.cancel_ms = Some(now);
        answer(p)
    }

    /// A cancel found no payment: the pay it names may still be in transit. Under
    /// [`OvertakenPay::Closed`] the `paymentRequestId` it names is closed for good.
    fn overtaken_by_cancel(&mut self, client_id: &str, req: &CancelRequest) {
        if self.settings.overtaken_pay != OvertakenPay::Closed {
            return;
        }
        let Some(request) = &req.payment_request_id else {
            return;
        };
        let key = (client_id.to_owned(), request.as_str().to_owned());
        if !self.payment_by_request.contains_key(&key) {
            self.closed_requests.insert(key);
        }
    }

    pub(crate) fn refund(
        &mut self,
        client_id: &str,
        req: &RefundRequest,
        now: i64,
    ) -> RefundResponse {
        let key = (
            client_id.to_owned(),
            req.refund_request_id.as_str().to_owned(),
        );
        if let Some(&r) = self.refund_by_request.get(&key) {
            let refund = &self.refunds[r];
            if refund.amount != req.refund_amount
                || self.payments[refund.payment].payment_id != req.payment_id.as_str()
            {
                return RefundResponse::new(result(
                    ResultCode::RepeatReqInconsistent,
                    "The refundRequestId was used with a different refundAmount or paymentId.",
                ));
            }
            return self.refund_response(r);
        }
        let Some(index) = self.find_payment(client_id, Some(req.payment_id.as_str()), None) else {
            return RefundResponse::new(result(
                ResultCode::OrderNotExist,
                "The payment does not exist.",
            ));
        };
        let p = &self.payments[index];
        let refusal = match p.state {
            PayState::Cancelled => {
                Some((ResultCode::OrderIsCanceled, "The payment was cancelled."))
            }
            PayState::Processing | PayState::Pending | PayState::Fail => Some((
                ResultCode::OrderStatusInvalid,
                "Only a successful payment can be refunded.",
            )),
            PayState::Success => None,
        }
        .or_else(|| {
            (req.refund_amount.currency != p.amount.currency).then_some((
                ResultCode::CurrencyNotSupport,
                "The refund currency differs from the payment's.",
            ))
        })
        .or_else(|| {
            (p.paid_ms
                .unwrap_or(p.created_ms)
                .saturating_add(self.lifetimes.refund_window_ms)
                < now)
                .then_some((
                    ResultCode::RefundWindowExceed,
                    "The refund window has passed.",
                ))
        })
        .or_else(|| {
            (p.refunded.saturating_add(req.refund_amount.minor_units()) > p.amount.minor_units())
                .then_some((
                    ResultCode::RefundAmountExceed,
                    "The refunds would exceed the amount paid.",
                ))
        });
        let refund_id = format!("{}{}", date_digits(now), random_digits(24));
        let r = self.refunds.len();
        self.refunds.push(Refund {
            client_id: client_id.to_owned(),
            refund_request_id: key.1.clone(),
            refund_id: refund_id.clone(),
            payment: index,
            amount: req.refund_amount,
            time_ms: now,
            failure: refusal.clone(),
            in_process_until: None,
            notify_url: req.refund_notify_url.clone(),
        });
        self.refund_by_request.insert(key, r);
        self.refund_by_id.insert(refund_id, r);
        if refusal.is_some() {
            return self.refund_response(r);
        }
        // Accepted: it counts against what is left to refund from now on, in process or not.
        self.payments[index].refunded += req.refund_amount.minor_units();
        self.payments[index].refunds.push(r);
        if self.settings.refunds_in_process {
            let delay = i64::try_from(self.settings.refund_process_delay_ms).unwrap_or(i64::MAX);
            self.refunds[r].in_process_until = Some(now.saturating_add(delay));
            return self.refund_response(r);
        }
        self.end_refund(r, false, now, now);
        self.refund_response(r)
    }

    /// A refund accepted ends at `at_ms` (sandbox time; notified at `now`): succeeded (the user
    /// is credited) or failed (nothing credited; its amount is refundable again).
    fn end_refund(&mut self, r: usize, failed: bool, at_ms: i64, now: i64) {
        let (index, amount, request_id) = {
            let refund = &mut self.refunds[r];
            refund.in_process_until = None;
            refund.time_ms = at_ms;
            if failed {
                refund.failure = Some((ResultCode::ProcessFail, "The refund failed."));
            }
            (
                refund.payment,
                refund.amount,
                refund.refund_request_id.clone(),
            )
        };
        let outcome = if failed {
            let p = &mut self.payments[index];
            p.refunded = p.refunded.saturating_sub(amount.minor_units());
            RefundStatus::Fail
        } else {
            self.post(
                at_ms,
                index,
                EntryKind::Credit,
                EntryReason::Refund,
                amount,
                Some(request_id.clone()),
            );
            RefundStatus::Success
        };
        let refund = &self.refunds[r];
        let answer = self.refund_response(r).result;
        let mut notify = NotifyRefund::new(
            answer,
            outcome,
            request_id.clone(),
            refund.refund_id.clone(),
            amount,
        );
        notify.refund_time = (!failed).then(|| ams_time(at_ms));
        let body = serde_json::to_string(&notify).unwrap_or_default();
        let client = refund.client_id.clone();
        let url = refund.notify_url.clone().or_else(|| {
            self.merchant_settings(&client)
                .and_then(|m| m.refund_notify_url)
        });
        self.enqueue(
            NotificationKind::Refund,
            &client,
            url,
            &request_id,
            body,
            now,
        );
    }

    /// Refunds in process whose time has come end, in the order they fall due: failed when the
    /// merchant's settings name them in `refund_failures`, succeeded otherwise. Returns the next
    /// such time, if any.
    pub(super) fn end_refunds_in_process(&mut self, now: i64) -> Option<i64> {
        let mut due: Vec<(i64, usize)> = self
            .refunds
            .iter()
            .enumerate()
            .filter_map(|(r, refund)| refund.in_process_until.map(|at| (at, r)))
            .collect();
        due.sort_unstable();
        let mut next = None;
        for (at, r) in due {
            if at > now {
                next = Some(next.map_or(at, |n: i64| n.min(at)));
                continue;
            }
            let refund = &self.refunds[r];
            let failed = self
                .merchant_settings(&refund.client_id)
                .is_some_and(|m| m.refund_failures.contains(&refund.refund_request_id));
            self.end_refund(r, failed, at, now);
        }
        next
    }

    fn refund_response(&self, r: usize) -> RefundResponse {
        let refund = &self.refunds[r];
        if let Some((code, message)) = &refund.failure {
            return RefundResponse::new(result(code.clone(), message));
        }
        if refund.in_process_until.is_some() {
            // The digest gives no status for REFUND_IN_PROCESS: F, the sandbox's fallback, and
            // the harsher reading (a client that takes every F as final fails a refund that
            // will succeed).
            return RefundResponse::new(result(
                ResultCode::RefundInProcess,
                "The refund is being processed.",
            ));
        }
        let mut response = RefundResponse::new(AmsResult::success());
        response.refund_request_id = Some(refund.refund_request_id.clone().into());
        response.refund_id = Some(refund.refund_id.clone().into());
        response.payment_id = Some(self.payments[refund.payment].payment_id.clone().into());
        response.refund_amount = Some(refund.amount);
        response.refund_time = Some(ams_time(refund.time_ms));
        response
    }

    pub(crate) fn inquiry_refund(
        &self,
        client_id: &str,
        req: &InquiryRefundRequest,
    ) -> InquiryRefundResponse {
        let index = match (&req.refund_id, &req.refund_request_id) {
            (Some(id), _) => self.refund_by_id.get(id.as_str()).copied(),
            (None, Some(request)) => self
                .refund_by_request
                .get(&(client_id.to_owned(), request.as_str().to_owned()))
                .copied(),
            (None, None) => None,
        }
        .filter(|&r| self.refunds[r].client_id == client_id);
        let Some(r) = index else {
            return InquiryRefundResponse::new(result(
                ResultCode::OrderNotExist,
                "The refund does not exist.",
            ));
        };
        let refund = &self.refunds[r];
        let mut response = InquiryRefundResponse::new(AmsResult::success());
        response.refund_id = Some(refund.refund_id.clone().into());
        response.refund_request_id = Some(refund.refund_request_id.clone().into());
        response.refund_amount = Some(refund.amount);
        let status = refund.status();
        response.refund_time =
            (status == TransactionStatus::Success).then(|| ams_time(refund.time_ms));
        response.refund_status = Some(status);
        response
    }
}

impl Refund {
    /// Where it stands, as `inquiryRefund`'s `refundStatus` says it.
    fn status(&self) -> TransactionStatus {
        if self.in_process_until.is_some() {
            TransactionStatus::Processing
        } else if self.failure.is_some() {
            TransactionStatus::Fail
        } else {
            TransactionStatus::Success
        }
    }
}
