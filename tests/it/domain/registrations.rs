//! Secondary-merchant registrations against the scripted gateway: accepted then followed until the
//! wallets' review ends (inquiries or the notification), the same body again while the outcome is
//! unknown (also after a crash mid-call), a refusal final, one registration of a merchant in flight
//! at a time, and a person told when the review takes longer than Alipay says it normally does.

use ams_protocol::{
    AmsResult, Api, InquiryRegistrationInfoResponse, MerchantRegistrationInfo, Notification,
    ProductCode, RegistrationRequest, RegistrationStatus, WebSite,
};
use autodebit_domain::lifecycle::declaration::DeclarationState;
use autodebit_domain::lifecycle::registration::RegistrationState;
use autodebit_domain::model::{EventKind, JobKind, Registration};
use autodebit_domain::ports::Reply;
use autodebit_domain::services::Error;
use autodebit_domain::services::registrations::{REVIEW_NORMALLY_WITHIN_MS, RegisterCommand};
use autodebit_domain::testing::replies::*;
use serde_json::json;

use autodebit_domain::ports::Clock as _;

use super::{H, backend_test};

fn command(key: &str, reference: &str) -> RegisterCommand {
    RegisterCommand {
        idempotency_key: key.into(),
        merchant_info: MerchantRegistrationInfo::new(reference)
            .with_merchant_display_name("Sub shop")
            .with_merchant_mcc("5812"),
        product_codes: vec![ProductCode::AgreementPayment],
        pass_through_info: Some("{\"k\":\"v\"}".into()),
    }
}

async fn read(h: &H, r: &Registration) -> Registration {
    h.registrations().view(&r.id).await.unwrap().registration
}

backend_test! {
    async fn a_registration_is_accepted_then_followed_until_the_review_ends(b) {
        let h = H::new(b);
        h.gw.push_registration(registration_accepted());
        let view = h.registrations().register(command("r1", "sub_1")).await.unwrap();
        let r = view.registration;
        assert_eq!((r.state, r.reviewed()), (RegistrationState::Accepted, false));
        let sent: RegistrationRequest = serde_json::from_str(&h.bodies(Api::Registration)[0]).unwrap();
        assert_eq!(sent.registration_request_id, r.registration_request_id);
        assert!(r.registration_request_id.as_str().len() <= 64);
        assert_eq!(sent.merchant_info.reference_merchant_id, "sub_1");
        assert_eq!(sent.pass_through_info.as_deref(), Some("{\"k\":\"v\"}"));
        assert_eq!(r.request_body.expose(), h.bodies(Api::Registration)[0]);
        assert_eq!(h.events(EventKind::SecondaryMerchantAccepted).await, 1);
        assert!(h.jobs().await.iter().any(|j| j.kind == JobKind::Registration(r.id.clone())));

        // Still pending, then completed: one wallet approved, one rejected.
        h.gw.push_inquiry_registration(registration_status(RegistrationStatus::Pending, &[]));
        h.gw.push_inquiry_registration(registration_status(
            RegistrationStatus::Completed,
            &[("ALIPAY_CN", RegistrationStatus::Approved), ("GCASH", RegistrationStatus::Rejected)],
        ));
        h.drain(i64::MAX).await;
        let r = read(&h, &r).await;
        assert!(r.reviewed());
        assert_eq!((r.inquiries, r.wallets.len()), (2, 2));
        let inquiry: serde_json::Value = serde_json::from_str(&h.bodies(Api::InquiryRegistrationStatus)[0]).unwrap();
        assert_eq!(inquiry["registrationRequestId"], r.registration_request_id.as_str());
        assert_eq!(h.events(EventKind::SecondaryMerchantReviewed).await, 1);
        assert!(h.jobs().await.is_empty(), "nothing left to do");

        // The same key replays; other parameters conflict; nothing more is sent.
        let replay = h.registrations().register(command("r1", "sub_1")).await.unwrap();
        assert!(replay.replayed);
        assert_eq!(replay.registration.id, r.id);
        let other = h.registrations().register(command("r1", "sub_2")).await;
        assert!(matches!(other, Err(Error::IdempotencyConflict { .. })), "{other:?}");
        assert_eq!(h.calls(Api::Registration), 1);
        let all = autodebit_domain::ports::PageRequest { after: None, limit: 100 };
        assert_eq!(h.registrations().list(Some("sub_1"), &all).await.unwrap().items.len(), 1);
        assert!(h.registrations().list(Some("sub_2"), &all).await.unwrap().items.is_empty());
    }
}

backend_test! {
    async fn an_unknown_outcome_sends_the_same_body_again_and_a_refusal_is_final(b) {
        let h = H::new(b);
        h.gw.push_registration(lost());
        h.gw.push_registration(registration_unknown());
        h.gw.push_registration(registration_accepted());
        let r = h.registrations().register(command("r1", "sub_1")).await.unwrap().registration;
        assert_eq!(r.state, RegistrationState::Unknown);
        // While its answer is awaited, a second registration of the merchant is refused here.
        let second = h.registrations().register(command("r2", "sub_1")).await;
        assert!(matches!(&second, Err(Error::Invalid { reason, .. }) if reason.contains("still waits")), "{second:?}");
        h.gw.push_inquiry_registration(registration_status(RegistrationStatus::Completed, &[]));
        h.drain(i64::MAX).await;
        let bodies = h.bodies(Api::Registration);
        assert_eq!(bodies.len(), 3);
        assert!(bodies.iter().all(|b| b == &bodies[0]), "the same bytes every time");
        let r = read(&h, &r).await;
        assert_eq!(r.state, RegistrationState::Accepted);
        assert!(r.reviewed());

        // Alipay refuses another registration of it: final, never sent again.
        h.gw.push_registration(registration_failed("REPEAT_REGISTRATION"));
        let refused = h.registrations().register(command("r3", "sub_1")).await.unwrap().registration;
        assert_eq!((refused.state, refused.result_code.as_deref()), (RegistrationState::Refused, Some("REPEAT_REGISTRATION")));
        assert_eq!(h.events(EventKind::SecondaryMerchantFailed).await, 1);
        h.drain(i64::MAX).await;
        assert_eq!(h.calls(Api::Registration), 4);
        // Bad input is named by its wire path, and nothing is stored or sent.
        let mut bad = command("r4", "sub_9");
        bad.merchant_info = bad.merchant_info.with_websites(vec![WebSite::new("not a url")]);
        let bad = h.registrations().register(bad).await;
        assert!(matches!(&bad, Err(Error::Invalid { reason, .. }) if reason.contains("merchantInfo.websites[0].url")), "{bad:?}");
        assert_eq!(h.calls(Api::Registration), 4);
    }
}

backend_test! {
    async fn a_send_interrupted_mid_call_is_sent_again_with_the_same_bytes(b) {
        // The process stopped after committing `Sent` and before the answer: the job finds it
        // `Sent` and sends the same body again (it may have left), for registrations and
        // declarations alike.
        let h = H::new(b);
        h.gw.push_registration(registration_accepted());
        let r = h.registrations().register(command("r1", "sub_1")).await.unwrap().registration;
        let mut tx = h.store().begin().await.unwrap();
        let mut interrupted = r.clone();
        interrupted.state = RegistrationState::Sent;
        assert!(tx.update_registration(&interrupted).await.unwrap());
        tx.schedule_job(JobKind::Registration(r.id.clone()), 0).await.unwrap();
        tx.commit().await.unwrap();
        h.gw.push_registration(registration_accepted());
        h.gw.push_inquiry_registration(registration_status(RegistrationStatus::Completed, &[]));
        h.drain(i64::MAX).await;
        let bodies = h.bodies(Api::Registration);
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0], bodies[1]);
        let r = read(&h, &r).await;
        assert!(r.reviewed(), "{r:?}");

        let order = {
            let auth = h.active().await;
            h.gw.push_pay(pay_success("pid-1", super::usd(1_000)));
            h.charge(&auth, "k1", 1_000).await.unwrap().order.id
        };
        h.gw.push_declare(declare_success("CPID-1"));
        let d = h.customs().declare(autodebit_domain::services::customs::DeclareCommand {
            idempotency_key: "d1".into(),
            order_id: order,
            amount: None,
            customs_code: "ZONGSHU".into(),
            merchant_customs_code: "MC001".into(),
            merchant_customs_name: "Shop".into(),
            suborder_id: None,
            buyer: None,
        }).await.unwrap().declaration;
        let mut tx = h.store().begin().await.unwrap();
        let mut interrupted = d.clone();
        interrupted.state = DeclarationState::Sent;
        interrupted.record = None;
        assert!(tx.update_declaration(&interrupted).await.unwrap());
        tx.schedule_job(JobKind::Declaration(d.id.clone()), 0).await.unwrap();
        tx.commit().await.unwrap();
        h.gw.push_declare(declare_success("CPID-1"));
        h.gw.push_inquiry_declaration(declaration_record(&d.declaration_request_id, Some("2")));
        h.drain(i64::MAX).await;
        let bodies = h.bodies(Api::Declare);
        assert_eq!((bodies.len(), &bodies[0]), (2, &bodies[1]));
        let d = h.customs().view(&d.id).await.unwrap().declaration;
        assert!(d.customs_answered(), "{d:?}");
    }
}

backend_test! {
    async fn the_notification_ends_the_review_and_a_long_review_is_told(b) {
        let h = H::new(b);
        h.gw.push_registration(registration_accepted());
        let r = h.registrations().register(command("r1", "sub_1")).await.unwrap().registration;
        // The review takes longer than Alipay says it normally does: a person is told, the
        // inquiries go on.
        for _ in 0..200 {
            h.gw.push_inquiry_registration(registration_status(RegistrationStatus::Pending, &[]));
        }
        h.drain(h.clock.now_ms() + REVIEW_NORMALLY_WITHIN_MS + 3_600_000).await;
        let items = h.attention().await;
        assert!(items.iter().any(|a| a.code == "secondary_merchant_unanswered"), "{items:?}");
        assert!(!read(&h, &r).await.reviewed());
        assert!(h.jobs().await.iter().any(|j| j.kind == JobKind::Registration(r.id.clone())));
        // Alipay's notification ends it, once; its resend is a duplicate.
        let body = json!({
            "registrationRequestId": r.registration_request_id.as_str(),
            "referenceMerchantId": "sub_1",
            "registrationResult": { "registrationStatus": "COMPLETED" },
            "pspRegistrationResultList": [{ "pspName": "AlipayCN", "registrationResult": { "registrationStatus": "APPROVED" } }]
        });
        let Notification::Unrecognised(map) = Notification::from_json(body.to_string().as_bytes()).unwrap() else {
            panic!("a registration notification is none of the payment kinds");
        };
        let notification = Notification::Unrecognised(map);
        assert_eq!(h.notify(&notification).await.unwrap(), autodebit_domain::services::notifications::Receipt::Applied);
        assert_eq!(h.notify(&notification).await.unwrap(), autodebit_domain::services::notifications::Receipt::Duplicate);
        let r = read(&h, &r).await;
        assert!(r.reviewed());
        assert_eq!(r.wallets[0].psp_name.as_deref(), Some("AlipayCN"));
        assert_eq!(h.events(EventKind::SecondaryMerchantReviewed).await, 1);
        assert!(h.attention().await.iter().all(|a| a.code != "secondary_merchant_unanswered" || a.resolution.is_some()), "settled");
        h.drain(i64::MAX).await;
        assert!(h.jobs().await.is_empty());
    }
}

backend_test! {
    async fn what_alipay_holds_is_asked_live_and_its_refusal_is_named(b) {
        let h = H::new(b);
        h.gw.push_inquiry_registration_info(Reply::Success(
            InquiryRegistrationInfoResponse::new(AmsResult::success())
                .with_merchant_info(MerchantRegistrationInfo::new("sub_1").with_merchant_mcc("5812"))
                .with_product_codes(vec![ProductCode::AgreementPayment]),
        ));
        let info = h.registrations().registered_info("sub_1").await.unwrap();
        assert_eq!(info.merchant_info.map(|m| m.reference_merchant_id).as_deref(), Some("sub_1"));
        let asked: serde_json::Value = serde_json::from_str(&h.bodies(Api::InquiryRegistrationInfo)[0]).unwrap();
        assert_eq!(asked["referenceMerchantId"], "sub_1");
        h.gw.push_inquiry_registration_info(Reply::Failed(InquiryRegistrationInfoResponse::new(result(
            ams_protocol::ResultStatus::F,
            "RECORD_NOT_FOUND",
        ))));
        let missing = h.registrations().registered_info("sub_2").await;
        assert!(matches!(&missing, Err(Error::Refused { code, .. }) if code == "RECORD_NOT_FOUND"), "{missing:?}");
        let silent = h.registrations().registered_info("sub_3").await;
        assert!(matches!(silent, Err(Error::Unavailable { .. })), "nothing scripted: never sent");
        let bad = h.registrations().registered_info(&"x".repeat(65)).await;
        assert!(matches!(bad, Err(Error::Invalid { .. })), "{bad:?}");
        assert!(h.jobs().await.is_empty(), "a read leaves nothing behind");
    }
}
