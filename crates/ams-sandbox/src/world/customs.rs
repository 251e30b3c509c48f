//! Customs declaration (digest §9.3–9.4): `declare`, its idempotency and re-transmission rules,
//! customs' receipt arriving after [`crate::SandboxSettings::customs_receipt_delay_ms`], and
//! `inquiryDeclarationRequests`.
//!
//! Each declaration holds its share of the payment (its `declarationAmount`); the shares of one
//! payment's declarations must not add up to more than the payment's amount. A declaration is
//! stored only once accepted: a refused `declare` changes nothing, so the merchant may fix the cause
//! and send the same `declarationRequestId` again (the table's advice for `ORDER_STATUS_INVALID` is
//! "wait").

use std::collections::HashSet;

use ams_protocol::{
    AmsResult, ClearingChannel, DeclarationRecord, DeclareRequest, DeclareResponse,
    IdentityCheckResult, InquiryDeclarationRequestsRequest, InquiryDeclarationRequestsResponse,
    ResultCode,
};

use super::{PayState, World, result};
use crate::util::{ams_time, date_digits};

/// Re-transmission is executed only this long after the previous call with the same id (digest
/// §9.3.5: "more than 5 minutes"; Alipay may tune it).
pub(crate) const RETRANSMISSION_AFTER_MS: i64 = 5 * 60_000;

/// Alipay's registration ID with customs (digest §9.3.4; the sandbox gives it for every office).
const PROVIDER_REGISTRATION_ID: &str = "31222699S7";

/// The `declarationRequestStatus` values (the real set is UNKNOWN; a sandbox decision).
pub(crate) const STATUS_PROCESSING: &str = "PROCESSING";
/// Customs accepted the declaration.
pub(crate) const STATUS_SUCCESS: &str = "SUCCESS";
/// Customs rejected the declaration.
pub(crate) const STATUS_FAIL: &str = "FAIL";

/// `customsDeclarationResultCode` of an accepted declaration (the Alipay+ sample's `"2"`).
const CUSTOMS_ACCEPTED_CODE: &str = "2";

/// Customs' answer to a declaration.
#[derive(Clone)]
enum Receipt {
    /// Not back yet; due at this sandbox time.
    Pending { due_ms: i64 },
    /// Customs accepted it.
    Accepted { at_ms: i64 },
    /// Customs rejected it with this code and description.
    Rejected {
        at_ms: i64,
        code: String,
        desc: String,
    },
}

/// One accepted declaration.
pub(crate) struct Declaration {
    client_id: String,
    declaration_request_id: String,
    /// The payment declared (an index into the world's payments).
    payment: usize,
    /// The request as last accepted (first transmission or the latest re-transmission).
    request: DeclareRequest,
    customs_payment_id: String,
    customs_order_id: String,
    clearing_transaction_id: String,
    identity: Option<IdentityCheckResult>,
    /// When the last call with this id arrived (accepted, replayed or refused): the start of the
    /// re-transmission window.
    last_call_ms: i64,
    /// When it last changed (declared, re-transmitted, answered by customs).
    modified_ms: i64,
    receipt: Receipt,
}

/// Which parts of a declare differ from the stored one.
struct Difference {
    /// Nothing differs.
    identical: bool,
    /// A field outside the seven that a re-transmission may change differs.
    fixed_field: bool,
    /// `declarationAmount` (value or currency) differs.
    amount: bool,
}

/// Compares a repeated declare with the stored request. The seven fields a re-transmission may
/// change (digest §9.3.5): `merchantCustomsInfo.merchantCustomsCode` and `.merchantCustomsName`,
/// `customs.customsCode`, `declarationAmount`, `suborderId`, `buyerCertificate.holderName.fullName`
/// and `buyerCertificate.certificateNo`; everything else must stay as it was.
fn difference(stored: &DeclareRequest, new: &DeclareRequest) -> Difference {
    let mut probe = new.clone();
    probe.merchant_customs_info = stored.merchant_customs_info.clone();
    probe.customs.customs_code = stored.customs.customs_code.clone();
    probe.declaration_amount = stored.declaration_amount;
    probe.suborder_id.clone_from(&stored.suborder_id);
    if let (Some(p), Some(s)) = (&mut probe.buyer_certificate, &stored.buyer_certificate) {
        p.certificate_no.clone_from(&s.certificate_no);
        if let (Some(pn), Some(sn)) = (&mut p.holder_name, &s.holder_name) {
            pn.full_name.clone_from(&sn.full_name);
        }
    }
    Difference {
        identical: stored == new,
        fixed_field: &probe != stored,
        amount: stored.declaration_amount != new.declaration_amount,
    }
}

fn refused(code: ResultCode, message: &str) -> DeclareResponse {
    DeclareResponse::new(result(code, message))
}

impl World {
    pub(crate) fn declare(
        &mut self,
        client_id: &str,
        req: &DeclareRequest,
        now: i64,
    ) -> DeclareResponse {
        let settings = self.merchant_settings(client_id).unwrap_or_default();
        if settings.customs_registered == Some(false) {
            return refused(
                ResultCode::MerchantNotRegistered,
                "The merchant is not registered for customs declaration.",
            );
        }
        let key = (
            client_id.to_owned(),
            req.declaration_request_id.as_str().to_owned(),
        );
        match self.declaration_by_request.get(&key).copied() {
            Some(index) => self.declare_again(index, req, now),
            None => self.declare_new(key, req, now),
        }
    }

    /// The payment's state and amount checks shared by a first transmission and a
    /// re-transmission; `except` is the declaration being re-transmitted.
    fn declaration_refusal(
        &self,
        payment: usize,
        req: &DeclareRequest,
        except: Option<usize>,
    ) -> Option<DeclareResponse> {
        let p = &self.payments[payment];
        if p.state != PayState::Success {
            return Some(refused(
                ResultCode::OrderStatusInvalid,
                "Only a successful payment can be declared: the payment is processing, failed or cancelled.",
            ));
        }
        let amount = req.declaration_amount;
        if amount.currency != p.amount.currency {
            return Some(refused(
                ResultCode::ParamIllegal,
                &format!(
                    "declarationAmount.currency must be the payment's currency ({}).",
                    p.amount.currency
                ),
            ));
        }
        if amount.is_zero() {
            return Some(refused(
                ResultCode::ParamIllegal,
                "declarationAmount.value must be greater than 0.",
            ));
        }
        let others: Vec<&Declaration> = self
            .declarations
            .iter()
            .enumerate()
            .filter(|(i, d)| d.payment == payment && Some(*i) != except)
            .map(|(_, d)| d)
            .collect();
        // "An order can be declared only once at the same customs": a second declaration at the
        // same customs is allowed only when both are parts of a split order, with other sub-order ids.
        let duplicated = others.iter().any(|d| {
            d.request.customs.customs_code == req.customs.customs_code
                && !(d.request.split_order
                    && req.split_order
                    && d.request.suborder_id != req.suborder_id)
        });
        if duplicated {
            return Some(refused(
                ResultCode::DuplicatedDeclarations,
                "The payment is already declared at this customs.",
            ));
        }
        let declared: u64 = others
            .iter()
            .map(|d| d.request.declaration_amount.minor_units())
            .sum();
        if declared.saturating_add(amount.minor_units()) > p.amount.minor_units() {
            return Some(refused(
                ResultCode::TotalDeclarationAmountExceed,
                "The declared amounts would exceed the payment's amount.",
            ));
        }
        None
    }

    fn identity_check(&self, client_id: &str, req: &DeclareRequest) -> Option<IdentityCheckResult> {
        req.buyer_certificate.as_ref()?;
        let fails = self
            .merchant_settings(client_id)
            .is_some_and(|m| m.customs_identity_check_fails);
        Some(if fails {
            IdentityCheckResult::CheckNotPassed
        } else {
            IdentityCheckResult::CheckPassed
        })
    }

    fn declare_new(
        &mut self,
        key: (String, String),
        req: &DeclareRequest,
        now: i64,
    ) -> DeclareResponse {
        let Some(payment) = self.find_payment(&key.0, Some(req.payment_id.as_str()), None) else {
            return refused(ResultCode::OrderNotExist, "The payment does not exist.");
        };
        if let Some(refusal) = self.declaration_refusal(payment, req, None) {
            return refusal;
        }
        let n = self.declarations.len() as u64 + 1;
        let date = date_digits(now);
        let declaration = Declaration {
            identity: self.identity_check(&key.0, req),
            client_id: key.0.clone(),
            declaration_request_id: key.1.clone(),
            payment,
            request: req.clone(),
            customs_payment_id: format!("{date}1{n:016}"),
            customs_order_id: format!("{date}2{n:016}"),
            clearing_transaction_id: format!("{date}3{n:016}"),
            last_call_ms: now,
            modified_ms: now,
            receipt: Receipt::Pending {
                due_ms: self.receipt_due(now),
            },
        };
        let index = self.declarations.len();
        self.declarations.push(declaration);
        self.declaration_by_request.insert(key, index);
        self.declare_response(index)
    }

    fn receipt_due(&self, now: i64) -> i64 {
        now.saturating_add(
            i64::try_from(self.settings.customs_receipt_delay_ms).unwrap_or(i64::MAX),
        )
    }

    /// A declare with an id already accepted: the same request is answered as before; a
    /// re-transmission (only the seven changeable fields differ, more than five minutes after the
    /// previous call) is executed; anything else is refused.
    fn declare_again(&mut self, index: usize, req: &DeclareRequest, now: i64) -> DeclareResponse {
        let d = &mut self.declarations[index];
        let since_previous = now.saturating_sub(d.last_call_ms);
        // Every call with the id counts as "the previous call", refused ones included.
        d.last_call_ms = now;
        let diff = difference(&d.request, req);
        if diff.identical {
            return self.declare_response(index);
        }
        if diff.fixed_field {
            return refused(
                ResultCode::ContextInconsistent,
                "Only merchantCustomsInfo, customs.customsCode, declarationAmount, suborderId and the buyer's certificate number and full name may change when a declaration is re-sent.",
            );
        }
        if since_previous <= RETRANSMISSION_AFTER_MS {
            return if diff.amount {
                refused(
                    ResultCode::RepeatReqInconsistent,
                    "The declarationRequestId was used with a different declarationAmount; use a new declarationRequestId.",
                )
            } else {
                refused(
                    ResultCode::ContextInconsistent,
                    "A declaration can be re-sent with changes only more than 5 minutes after the previous call.",
                )
            };
        }
        let payment = self.declarations[index].payment;
        if let Some(refusal) = self.declaration_refusal(payment, req, Some(index)) {
            return refusal;
        }
        // Re-transmission: the new data replace the old (the amount replaces this declaration's
        // share, it does not add to it) and go to customs again.
        let client_id = self.declarations[index].client_id.clone();
        let identity = self.identity_check(&client_id, req);
        let due_ms = self.receipt_due(now);
        let d = &mut self.declarations[index];
        d.request = req.clone();
        d.identity = identity;
        d.modified_ms = now;
        d.receipt = Receipt::Pending { due_ms };
        self.declare_response(index)
    }

    /// The success answer: the ids given at the first transmission, the identity check, and the
    /// clearing fields once customs' receipt is back and positive.
    fn declare_response(&self, index: usize) -> DeclareResponse {
        let d = &self.declarations[index];
        let mut response = DeclareResponse::new(AmsResult::success())
            .with_customs_payment_id(d.customs_payment_id.clone())
            .with_customs_order_id(d.customs_order_id.clone());
        response.identity_check_result.clone_from(&d.identity);
        if let Receipt::Accepted { .. } = d.receipt {
            response = response
                .with_clearing_channel(ClearingChannel::Other)
                .with_clearing_transaction_id(d.clearing_transaction_id.clone())
                .with_customs_provider_registration_id(PROVIDER_REGISTRATION_ID.to_owned());
        }
        response
    }

    /// Customs answers every declaration whose receipt is due by `now`: rejected when the
    /// merchant's settings name it in `customs_rejections`, accepted otherwise. Returns when the
    /// next receipt is due.
    pub(super) fn receive_customs_receipts(&mut self, now: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        for i in 0..self.declarations.len() {
            let Receipt::Pending { due_ms } = self.declarations[i].receipt else {
                continue;
            };
            if due_ms > now {
                next = Some(next.map_or(due_ms, |n| n.min(due_ms)));
                continue;
            }
            let d = &self.declarations[i];
            let rejection = self.merchant_settings(&d.client_id).and_then(|m| {
                m.customs_rejections
                    .into_iter()
                    .find(|r| r.declaration_request_id == d.declaration_request_id)
            });
            let d = &mut self.declarations[i];
            d.receipt = match rejection {
                Some(r) => Receipt::Rejected {
                    at_ms: due_ms,
                    code: r.code,
                    desc: r.desc,
                },
                None => Receipt::Accepted { at_ms: due_ms },
            };
            d.modified_ms = due_ms;
        }
        next
    }

    fn declaration_record(&self, d: &Declaration) -> DeclarationRecord {
        let r = &d.request;
        let mut record = DeclarationRecord::new(d.declaration_request_id.clone())
            .with_customs_payment_id(d.customs_payment_id.clone())
            .with_customs_order_id(d.customs_order_id.clone())
            .with_customs(r.customs.clone())
            .with_merchant_customs_info(r.merchant_customs_info.clone())
            .with_declaration_amount(r.declaration_amount)
            .with_split_order(r.split_order)
            .with_last_modified_time(ams_time(d.modified_ms));
        let (status, answer) = match &d.receipt {
            Receipt::Pending { .. } => (STATUS_PROCESSING, None),
            Receipt::Accepted { at_ms } => (
                STATUS_SUCCESS,
                Some((
                    CUSTOMS_ACCEPTED_CODE.to_owned(),
                    "Customs accepted the declaration (sandbox).".to_owned(),
                    *at_ms,
                )),
            ),
            Receipt::Rejected { at_ms, code, desc } => {
                (STATUS_FAIL, Some((code.clone(), desc.clone(), *at_ms)))
            }
        };
        record = record.with_declaration_request_status(status.to_owned());
        if let Some((code, desc, at_ms)) = answer {
            record = record
                .with_customs_declaration_result_code(code)
                .with_customs_declaration_result_desc(desc)
                .with_customs_declaration_return_time(ams_time(at_ms));
        }
        record
    }

    /// inquiryDeclarationRequests: a record for each id the client declared, the others in
    /// `declarationRequestsNotFound`; `S` even when none is known. An id asked twice is answered once.
    pub(crate) fn inquiry_declarations(
        &self,
        client_id: &str,
        req: &InquiryDeclarationRequestsRequest,
    ) -> InquiryDeclarationRequestsResponse {
        let mut seen = HashSet::new();
        let mut records = Vec::new();
        let mut not_found = Vec::new();
        for id in &req.declaration_request_ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            match self
                .declaration_by_request
                .get(&(client_id.to_owned(), id.as_str().to_owned()))
            {
                Some(&index) => records.push(self.declaration_record(&self.declarations[index])),
                None => not_found.push(id.clone()),
            }
        }
        let mut response = InquiryDeclarationRequestsResponse::new(AmsResult::success());
        if !records.is_empty() {
            response = response.with_declaration_records(records);
        }
        if !not_found.is_empty() {
            response = response.with_declaration_requests_not_found(not_found);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use ams_protocol::{
        Amount, Certificate, CertificateType, Currency, CustomsCode, CustomsInfo,
        MerchantCustomsInfo, UserName,
    };

    use super::*;

    fn request() -> DeclareRequest {
        let mut name = UserName::default();
        name.full_name = Some("F L".into());
        name.first_name = Some("F".into());
        DeclareRequest::new(
            "d1",
            "p1",
            Amount::new(Currency::CNY, 100),
            CustomsInfo::new(CustomsCode::Zongshu, "CN"),
            MerchantCustomsInfo::new("code", "name"),
        )
        .with_buyer_certificate(
            Certificate::new(CertificateType::IdCard, "110101199001011234").with_holder_name(name),
        )
    }

    #[test]
    fn the_seven_fields_may_change_and_nothing_else() {
        let stored = request();
        assert!(difference(&stored, &stored).identical);
        let mut changed = stored.clone();
        changed.merchant_customs_info = MerchantCustomsInfo::new("other", "other name");
        changed.customs.customs_code = CustomsCode::ShanghaiCbt;
        changed.declaration_amount = Amount::new(Currency::CNY, 50);
        changed.suborder_id = Some("s".into());
        let certificate = changed.buyer_certificate.as_mut().expect("certificate");
        certificate.certificate_no = "999".into();
        certificate.holder_name.as_mut().expect("name").full_name = Some("X Y".into());
        let diff = difference(&stored, &changed);
        assert!(!diff.identical && !diff.fixed_field && diff.amount);

        for change in [
            |r: &mut DeclareRequest| r.payment_id = "p2".into(),
            |r: &mut DeclareRequest| r.customs.region = Some("HK".into()),
            |r: &mut DeclareRequest| r.split_order = true,
            |r: &mut DeclareRequest| r.buyer_certificate = None,
            |r: &mut DeclareRequest| {
                r.buyer_certificate.as_mut().expect("c").certificate_type =
                    CertificateType::Passport;
            },
            |r: &mut DeclareRequest| {
                r.buyer_certificate
                    .as_mut()
                    .and_then(|c| c.holder_name.as_mut())
                    .expect("name")
                    .first_name = Some("G".into());
            },
        ] {
            let mut other = stored.clone();
            change(&mut other);
            let diff = difference(&stored, &other);
            assert!(diff.fixed_field && !diff.amount, "{other:?}");
        }
    }
}
