//! Customs declarations against the scripted gateway: accepted then followed until customs answers,
//! the same body again while the outcome is unknown, a refusal final, the declared total capped by
//! what was paid, and re-sends that keep the id, change only what may change, and wait five minutes.

use ams_protocol::{Api, DeclareRequest};
use autodebit_domain::lifecycle::declaration::DeclarationState;
use autodebit_domain::model::{EventKind, JobKind, OrderId};
use autodebit_domain::services::Error;
use autodebit_domain::services::customs::{
    Buyer, DeclarationChanges, DeclareCommand, RESEND_AFTER_MS, ResendCommand,
};
use autodebit_domain::testing::replies::*;

use super::{H, backend_test, usd};

async fn paid(h: &H, key: &str, minor: u64) -> OrderId {
    let auth = h.active().await;
    h.gw.push_pay(pay_success(&format!("pid-{key}"), usd(minor)));
    h.charge(&auth, key, minor).await.unwrap().order.id
}

fn command(key: &str, order: &OrderId, amount: Option<u64>) -> DeclareCommand {
    DeclareCommand {
        idempotency_key: key.into(),
        order_id: order.clone(),
        amount: amount.map(usd),
        customs_code: "ZONGSHU".into(),
        merchant_customs_code: "MC001".into(),
        merchant_customs_name: "Shop".into(),
        suborder_id: None,
        buyer: Some(Buyer {
            certificate_type: "ID_CARD".into(),
            certificate_no: "110101199001011234".into(),
            full_name: "Li Lei".into(),
        }),
    }
}

backend_test! {
    async fn a_declaration_is_accepted_then_followed_until_customs_answers(b) {
        let h = H::new(b);
        let order = paid(&h, "k1", 1_000).await;
        h.gw.push_declare(declare_success("CPID-1"));
        let view = h.customs().declare(command("d1", &order, None)).await.unwrap();
        let d = view.declaration;
        assert_eq!(d.state, DeclarationState::Accepted);
        assert_eq!(d.amount, usd(1_000), "the whole payment by default");
        let sent: DeclareRequest = serde_json::from_str(&h.bodies(Api::Declare)[0]).unwrap();
        assert_eq!(sent.declaration_request_id, d.declaration_request_id);
        assert_eq!(sent.payment_id.as_str(), "pid-k1");
        assert_eq!(sent.customs.customs_code.as_str(), "ZONGSHU");
        assert!(!sent.split_order);
        assert_eq!(
            sent.buyer_certificate.as_ref().map(|c| c.certificate_no.as_str()),
            Some("110101199001011234")
        );
        assert!(!format!("{d:?}").contains("110101199001011234"), "personal data kept out of Debug");
        assert_eq!(d.request_body.expose(), h.bodies(Api::Declare)[0]);
        assert_eq!(h.events(EventKind::CustomsDeclarationAccepted).await, 1);
        assert!(h.jobs().await.iter().any(|j| j.kind == JobKind::Declaration(d.id.clone())));

        // Customs still processing, then answered.
        h.gw.push_inquiry_declaration(declaration_record(&d.declaration_request_id, None));
        h.gw.push_inquiry_declaration(declaration_record(&d.declaration_request_id, Some("2")));
        h.drain(i64::MAX).await;
        let d = h.customs().view(&d.id).await.unwrap().declaration;
        assert!(d.customs_answered());
        assert_eq!(d.inquiries, 2);
        assert_eq!(
            d.record.as_ref().and_then(|r| r.customs_declaration_result_code.as_deref()),
            Some("2")
        );
        assert_eq!(h.events(EventKind::CustomsDeclarationCompleted).await, 1);
        assert!(h.jobs().await.is_empty(), "nothing left to do");
        // The same key replays; other parameters conflict.
        let replay = h.customs().declare(command("d1", &order, None)).await.unwrap();
        assert!(replay.replayed);
        assert_eq!(replay.declaration.id, d.id);
        let other = h.customs().declare(command("d1", &order, Some(10))).await;
        assert!(matches!(other, Err(Error::IdempotencyConflict { .. })), "{other:?}");
        assert_eq!(h.calls(Api::Declare), 1);
    }
}

backend_test! {
    async fn an_unknown_outcome_sends_the_same_body_again_and_a_refusal_is_final(b) {
        let h = H::new(b);
        let order = paid(&h, "k1", 1_000).await;
        h.gw.push_declare(lost());
        h.gw.push_declare(declare_unknown());
        h.gw.push_declare(declare_success("CPID-1"));
        let d = h.customs().declare(command("d1", &order, Some(400))).await.unwrap().declaration;
        assert_eq!(d.state, DeclarationState::Unknown);
        h.gw.push_inquiry_declaration(declaration_record(&d.declaration_request_id, Some("2")));
        h.drain(i64::MAX).await;
        let bodies = h.bodies(Api::Declare);
        assert_eq!(bodies.len(), 3);
        assert!(bodies.iter().all(|b| b == &bodies[0]), "the same bytes every time");
        let d = h.customs().view(&d.id).await.unwrap().declaration;
        assert_eq!(d.state, DeclarationState::Accepted);
        assert!(d.customs_answered());

        // A refusal is final, and its amount no longer counts toward the cap.
        h.gw.push_declare(declare_failed("DUPLICATED_DECLARATIONS"));
        let refused = h.customs().declare(command("d2", &order, Some(600))).await.unwrap().declaration;
        assert_eq!(refused.state, DeclarationState::Refused);
        assert_eq!(refused.result_code.as_deref(), Some("DUPLICATED_DECLARATIONS"));
        assert_eq!(h.events(EventKind::CustomsDeclarationFailed).await, 1);
        h.drain(i64::MAX).await;
        assert_eq!(h.calls(Api::Declare), 4, "a refused declaration is never sent again");
        h.gw.push_declare(declare_success("CPID-3"));
        let third = h.customs().declare(command("d3", &order, Some(600))).await.unwrap();
        assert_eq!(third.declaration.state, DeclarationState::Accepted);
    }
}

backend_test! {
    async fn the_declared_total_never_passes_what_was_paid(b) {
        let h = H::new(b);
        let order = paid(&h, "k1", 1_000).await;
        h.gw.push_declare(lost());
        h.customs().declare(command("d1", &order, Some(700))).await.unwrap();
        // The first one's outcome is unknown: it counts (it may have been accepted).
        let over = h.customs().declare(command("d2", &order, Some(301))).await;
        assert!(matches!(over, Err(Error::NotDeclarable { .. })), "{over:?}");
        assert_eq!(h.calls(Api::Declare), 1, "nothing sent for the refused command");
        h.gw.push_declare(declare_success("CPID-2"));
        let fits = h.customs().declare(command("d3", &order, Some(300))).await.unwrap();
        assert_eq!(fits.declaration.state, DeclarationState::Accepted);

        // An unpaid order is not declared.
        let auth = h.active().await;
        h.gw.push_pay(pay_failed("USER_BALANCE_NOT_ENOUGH"));
        let unpaid = h.charge(&auth, "k2", 500).await.unwrap().order.id;
        let refused = h.customs().declare(command("d4", &unpaid, None)).await;
        assert!(matches!(refused, Err(Error::NotDeclarable { .. })), "{refused:?}");
        // Nor with nothing to declare.
        let zero = h.customs().declare(command("d5", &order, Some(0))).await;
        assert!(matches!(zero, Err(Error::Invalid { .. })), "{zero:?}");
    }
}

backend_test! {
    async fn a_resend_keeps_the_id_changes_what_may_change_and_waits_five_minutes(b) {
        let h = H::new(b);
        let order = paid(&h, "k1", 1_000).await;
        h.gw.push_declare(declare_success("CPID-1"));
        let d = h.customs().declare(command("d1", &order, Some(400))).await.unwrap().declaration;
        h.gw.push_inquiry_declaration(declaration_record(&d.declaration_request_id, Some("2")));
        h.advance(60_000).await;
        assert!(h.customs().view(&d.id).await.unwrap().declaration.customs_answered());
        let resend = |key: &str, changes: DeclarationChanges| ResendCommand {
            idempotency_key: key.into(),
            id: d.id.clone(),
            changes,
        };
        let change = DeclarationChanges {
            amount: Some(usd(900)),
            merchant_customs_name: Some("Shop Ltd".into()),
            buyer_certificate_no: Some("110101199001019999".into()),
            ..DeclarationChanges::default()
        };
        // Too soon after the previous call: refused before anything is sent.
        let early = h.customs().resend(resend("r1", change.clone())).await;
        assert!(matches!(early, Err(Error::NotDeclarable { .. })), "{early:?}");
        h.clock.advance(RESEND_AFTER_MS + 1 - 60_000);
        // Past the cap (the declaration's own earlier amount is replaced, not added).
        let over = h
            .customs()
            .resend(resend("r2", DeclarationChanges { amount: Some(usd(1_001)), ..DeclarationChanges::default() }))
            .await;
        assert!(matches!(over, Err(Error::NotDeclarable { .. })), "{over:?}");
        // A sub-order id for a whole order does not apply.
        let wrong = h
            .customs()
            .resend(resend("r3", DeclarationChanges { suborder_id: Some("S1".into()), ..DeclarationChanges::default() }))
            .await;
        assert!(matches!(wrong, Err(Error::Invalid { .. })), "{wrong:?}");
        assert_eq!(h.calls(Api::Declare), 1);

        h.gw.push_declare(declare_success("CPID-1"));
        let again = h.customs().resend(resend("r4", change)).await.unwrap().declaration;
        assert_eq!(again.state, DeclarationState::Accepted);
        assert_eq!(again.amount, usd(900));
        assert_eq!(again.sends, 2);
        assert!(!again.customs_answered(), "customs' answer to the earlier body is not this one's");
        let bodies = h.bodies(Api::Declare);
        let first: DeclareRequest = serde_json::from_str(&bodies[0]).unwrap();
        let second: DeclareRequest = serde_json::from_str(&bodies[1]).unwrap();
        assert_eq!(second.declaration_request_id, first.declaration_request_id, "the same id");
        assert_eq!(second.declaration_amount, usd(900));
        assert_eq!(second.merchant_customs_info.merchant_customs_name, "Shop Ltd");
        assert_eq!(second.merchant_customs_info.merchant_customs_code, "MC001");
        assert_eq!(
            second.buyer_certificate.as_ref().map(|c| c.certificate_no.as_str()),
            Some("110101199001019999")
        );
        assert_eq!(second.payment_id, first.payment_id);
        assert_eq!(h.events(EventKind::CustomsDeclarationAccepted).await, 2);
        // Now 900 of 1000 is declared: 101 more does not fit.
        let more = h.customs().declare(command("d2", &order, Some(101))).await;
        assert!(matches!(more, Err(Error::NotDeclarable { .. })), "{more:?}");
    }
}

backend_test! {
    async fn a_refused_resend_leaves_the_accepted_declaration_standing(b) {
        let h = H::new(b);
        let order = paid(&h, "k1", 1_000).await;
        h.gw.push_declare(declare_success("CPID-1"));
        let d = h.customs().declare(command("d1", &order, Some(400))).await.unwrap().declaration;
        h.clock.advance(RESEND_AFTER_MS + 1);
        h.gw.push_declare(declare_failed("CONTEXT_INCONSISTENT"));
        let changes = DeclarationChanges { customs_code: Some("SHANGHAI_CBT".into()), ..DeclarationChanges::default() };
        let after = h
            .customs()
            .resend(ResendCommand { idempotency_key: "r1".into(), id: d.id.clone(), changes })
            .await
            .unwrap()
            .declaration;
        assert_eq!(after.state, DeclarationState::Accepted, "Alipay accepted the first transmission");
        assert_eq!(after.result_code.as_deref(), Some("CONTEXT_INCONSISTENT"));
        assert_eq!(h.events(EventKind::CustomsDeclarationFailed).await, 1);
        // Its amount still counts: 601 more does not fit.
        let more = h.customs().declare(command("d2", &order, Some(601))).await;
        assert!(matches!(more, Err(Error::NotDeclarable { .. })), "{more:?}");
    }
}
