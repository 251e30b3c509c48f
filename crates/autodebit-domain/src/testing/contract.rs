//! The store port's contract, as checks any store runs: [`run_all`] takes a way to make a fresh,
//! empty store and runs every check on one of its own. The in-memory store runs it in this
//! crate's tests; the SQL store runs it on SQLite and PostgreSQL. A check panics with its name and
//! what broke.

use std::future::Future;
use std::sync::Arc;

use ams_protocol::{
    AccessToken, Amount, AuthState, Currency, DeclarationRequestId, PaymentRequestId,
    RefundRequestId,
};

use super::seed::active_authorization;
use crate::lifecycle::attempt::AttemptState;
use crate::lifecycle::authorization::{AuthorizationState, RevokedBy};
use crate::lifecycle::declaration::DeclarationState;
use crate::lifecycle::order::OrderState;
use crate::lifecycle::refund::RefundState;
use crate::lifecycle::registration::RegistrationState;
use crate::model::{
    AttemptId, AttentionId, AttentionItem, Body, Declaration, DeclarationId, IdempotencyRecord,
    InboxEntry, JobKind, LeaseToken, Millis, OperatorAction, Order, OrderId, PaymentAttempt,
    Refund, RefundId, RefundOrigin, Registration, RegistrationId, RegistrationRequestId,
    Resolution, Subject, WalletAction,
};
use crate::ports::{AuthorizationFilter, Claim, OrderFilter, PageRequest, Store, StoreError};

const T0: Millis = 1_709_258_400_000;

/// Runs every check, each on a fresh store from `fresh`.
pub async fn run_all<F, Fut>(mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    writes_are_kept_at_commit_and_lost_on_drop(&*fresh().await).await;
    updates_are_compare_and_set(&*fresh().await).await;
    unique_fields_conflict_and_the_unit_of_work_stays_usable(&*fresh().await).await;
    a_rotated_token_still_finds_its_authorization(&*fresh().await).await;
    one_job_per_subject_claimed_in_due_order_under_leases(&*fresh().await).await;
    a_lost_lease_writes_nothing_of_its_job(&*fresh().await).await;
    a_schedule_while_held_runs_when_the_holder_lets_go(&*fresh().await).await;
    a_job_taken_too_often_is_set_aside_and_scheduling_brings_it_back(&*fresh().await).await;
    attention_items_open_once_and_close(&*fresh().await).await;
    inbox_and_idempotency_keys_are_kept_once(&*fresh().await).await;
    lists_are_newest_first_filtered_and_paged_by_cursor(&*fresh().await).await;
    a_released_lease_frees_the_job_without_counting_the_take(&*fresh().await).await;
    declarations_round_trip_are_unique_and_compare_and_set(&*fresh().await).await;
    registrations_round_trip_are_unique_and_compare_and_set(&*fresh().await).await;
}

fn order(id: &str, reference: &str) -> Order {
    Order {
        id: OrderId::new(id),
        authorization_id: crate::model::AuthorizationId::new("auth_1"),
        reference: reference.into(),
        description: "Plan".into(),
        amount: Amount::new(Currency::USD, 1_000),
        state: OrderState::Pending,
        refunded: 0,
        return_url: None,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

fn attempt(id: &str, order: &str, prid: &str) -> PaymentAttempt {
    PaymentAttempt {
        id: AttemptId::new(id),
        order_id: OrderId::new(order),
        payment_request_id: PaymentRequestId::new(prid),
        request_body: Body::new(r#"{"paymentRequestId":"x"}"#),
        amount: Amount::new(Currency::USD, 1_000),
        state: AttemptState::Created,
        payment_id: None,
        result_code: None,
        inquiries: 0,
        late_success: false,
        wallet_action: None,
        cancel_reason: None,
        cancel_started_at: None,
        expires_at: T0 + 55_000,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

fn refund(id: &str, order: &str, rrid: &str) -> Refund {
    Refund {
        id: RefundId::new(id),
        order_id: OrderId::new(order),
        refund_request_id: RefundRequestId::new(rrid),
        request_body: Body::new("{}"),
        amount: Amount::new(Currency::USD, 100),
        origin: RefundOrigin::Merchant,
        state: RefundState::Requested,
        alipay_refund_id: None,
        result_code: None,
        sends: 0,
        not_sent: 0,
        maybe_sent: false,
        first_sent_at: None,
        inquiries: 0,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

fn declaration(id: &str, order: &str, drid: &str) -> Declaration {
    Declaration {
        id: DeclarationId::new(id),
        order_id: OrderId::new(order),
        declaration_request_id: DeclarationRequestId::new(drid),
        request_body: Body::new(r#"{"declarationRequestId":"x","buyerCertificate":{}}"#),
        amount: Amount::new(Currency::CNY, 600),
        customs_code: "ZONGSHU".into(),
        state: DeclarationState::Requested,
        result_code: None,
        result_message: None,
        accepted: None,
        record: None,
        sends: 0,
        inquiries: 0,
        last_sent_at: None,
        round_started_at: T0,
        version: 0,
        created_at: T0,
        updated_at: T0,
    }
}

fn registration(id: &str, reference: &str, rrid: &str, at: Millis) -> Registration {
    Registration {
        id: RegistrationId::new(id),
        reference_merchant_id: reference.into(),
        registration_request_id: RegistrationRequestId::new(rrid),
        request_body: Body::new(r#"{"registrationRequestId":"x","merchantInfo":{}}"#),
        state: RegistrationState::Requested,
        result_code: None,
        result_message: None,
        review: None,
        wallets: Vec::new(),
        sends: 0,
        inquiries: 0,
        round_started_at: at,
        version: 0,
        created_at: at,
        updated_at: at,
    }
}

fn claim(token: &str, now: Millis) -> Claim {
    Claim {
        now,
        token: LeaseToken::new(token),
        lease_ms: 30_000,
        limit: 10,
        max_attempts: 3,
    }
}

async fn seed_order(store: &dyn Store) {
    let mut tx = store.begin().await.expect("begin");
    tx.insert_authorization(&active_authorization("auth_1", "tok-1", T0))
        .await
        .expect("authorization");
    tx.insert_order(&order("pay_1", "ref-1"))
        .await
        .expect("order");
    tx.insert_attempt(&attempt("att_1", "pay_1", "PRID-1"))
        .await
        .expect("attempt");
    tx.commit().await.expect("commit");
}

/// What a unit of work writes is visible to it at once, kept at commit, and lost when it is
/// dropped. (One unit of work is open at a time here: SQLite lets one writer in at a time.)
pub async fn writes_are_kept_at_commit_and_lost_on_drop(store: &dyn Store) {
    let mut tx = store.begin().await.expect("begin");
    let mut granted = active_authorization("auth_1", "tok-1", T0);
    granted.secondary_merchant = Some("sub_shop_1".into());
    tx.insert_authorization(&granted)
        .await
        .expect("authorization");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_order(&order("pay_1", "ref-1"))
        .await
        .expect("insert");
    assert!(
        tx.order(&OrderId::new("pay_1"))
            .await
            .expect("read")
            .is_some()
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.order(&OrderId::new("pay_1"))
            .await
            .expect("read")
            .is_none(),
        "kept after drop"
    );
    let mut kept = order("pay_1", "ref-1");
    kept.return_url = Some("https://shop.example/orders/1".into());
    tx.insert_order(&kept).await.expect("insert");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.order(&OrderId::new("pay_1"))
            .await
            .expect("read")
            .and_then(|o| o.return_url),
        kept.return_url,
        "kept with its return URL"
    );
    assert_eq!(
        tx.order_by_reference("ref-1")
            .await
            .expect("by reference")
            .map(|o| o.id),
        Some(OrderId::new("pay_1"))
    );
    let read = tx
        .authorization(&granted.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        read.secondary_merchant.as_deref(),
        Some("sub_shop_1"),
        "the secondary merchant is kept"
    );
}

/// An update names the version it read; a stale one writes nothing.
pub async fn updates_are_compare_and_set(store: &dyn Store) {
    seed_order(store).await;
    let id = AttemptId::new("att_1");
    let mut tx = store.begin().await.expect("begin");
    let seen = tx.attempt(&id).await.expect("read").expect("exists");
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    let mut first = tx.attempt(&id).await.expect("read").expect("exists");
    first.state = AttemptState::Sent;
    assert!(tx.update_attempt(&first).await.expect("update"));
    first.version += 1;
    first.state = AttemptState::Unknown;
    // What the wallet asks of the user is kept with the attempt, field for field.
    first.wallet_action = Some(WalletAction {
        normal_url: Some("https://wallet.example/pay/1".into()),
        scheme_url: None,
        applink_url: Some("https://wallet.example/pay/1?applink=1".into()),
        app_identifier: Some("com.example.wallet".into()),
    });
    assert!(
        tx.update_attempt(&first)
            .await
            .expect("a second update in the same unit of work")
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    let mut stale = seen;
    stale.state = AttemptState::Cancelled;
    assert!(
        !tx.update_attempt(&stale).await.expect("update"),
        "a stale version was written"
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    let stored = tx.attempt(&id).await.expect("read").expect("exists");
    assert_eq!(stored.state, AttemptState::Unknown);
    assert_eq!(stored.wallet_action, first.wallet_action);
    assert_eq!(stored.version, 2);
}

/// Ids and every unique field refuse a second record with a conflict, and the unit of work can
/// go on.
pub async fn unique_fields_conflict_and_the_unit_of_work_stays_usable(store: &dyn Store) {
    seed_order(store).await;
    let mut tx = store.begin().await.expect("begin");
    let clash = tx.insert_order(&order("pay_2", "ref-1")).await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "reference: {clash:?}"
    );
    let clash = tx
        .insert_attempt(&attempt("att_2", "pay_1", "PRID-1"))
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "paymentRequestId: {clash:?}"
    );
    let mut twin = active_authorization("auth_2", "tok-2", T0);
    twin.auth_state = AuthState::new("state-auth_1");
    let clash = tx.insert_authorization(&twin).await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "authState: {clash:?}"
    );
    tx.insert_refund(&refund("re_1", "pay_1", "RRID-1"))
        .await
        .expect("refund");
    let clash = tx.insert_refund(&refund("re_2", "pay_1", "RRID-1")).await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "refundRequestId: {clash:?}"
    );
    tx.insert_order(&order("pay_2", "ref-2"))
        .await
        .expect("still usable");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.attempt_by_payment_request_id(&PaymentRequestId::new("PRID-1"))
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        tx.refund_by_refund_request_id(&RefundRequestId::new("RRID-1"))
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        tx.authorization_by_auth_state(&AuthState::new("state-auth_1"))
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        tx.refunds_of_order(&OrderId::new("pay_1"))
            .await
            .expect("read")
            .len(),
        1
    );
    assert!(
        tx.order(&OrderId::new("pay_2"))
            .await
            .expect("read")
            .is_some()
    );
}

/// A customs declaration reads back as written (Alipay's answer and customs' record included), its
/// `declarationRequestId` is unique, and its updates are compare-and-set.
pub async fn declarations_round_trip_are_unique_and_compare_and_set(store: &dyn Store) {
    seed_order(store).await;
    let mut tx = store.begin().await.expect("begin");
    let mut first = declaration("cd_1", "pay_1", "D1");
    tx.insert_declaration(&first).await.expect("declaration");
    let clash = tx
        .insert_declaration(&declaration("cd_2", "pay_1", "D1"))
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "declarationRequestId: {clash:?}"
    );
    tx.insert_declaration(&declaration("cd_3", "pay_1", "D3"))
        .await
        .expect("still usable");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    let stale = tx
        .declaration(&first.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stale, first, "read back as written");
    first.state = DeclarationState::Accepted;
    first.sends = 1;
    first.last_sent_at = Some(T0 + 1);
    first.result_code = Some("RISK_REJECT".into());
    first.result_message = Some("m".into());
    first.accepted = Some(
        ams_protocol::DeclareResponse::new(ams_protocol::AmsResult::success())
            .with_customs_payment_id("CP1"),
    );
    first.record = Some(
        ams_protocol::DeclarationRecord::new(DeclarationRequestId::new("D1"))
            .with_declaration_request_status("SUCCESS")
            .with_customs_declaration_result_code("2"),
    );
    assert!(tx.update_declaration(&first).await.expect("update"));
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        !tx.update_declaration(&stale).await.expect("update"),
        "a stale version was written"
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    let stored = tx
        .declaration_by_request_id(&DeclarationRequestId::new("D1"))
        .await
        .expect("read")
        .expect("exists");
    first.version = 1;
    assert_eq!(stored, first);
    let of_order = tx
        .declarations_of_order(&OrderId::new("pay_1"))
        .await
        .expect("read");
    assert_eq!(
        of_order.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["cd_1", "cd_3"]
    );
}

/// A secondary merchant's registration reads back as written (the review and each wallet's result
/// included), its `registrationRequestId` is unique, its updates are compare-and-set, and the list
/// is newest first (by creation, then id), all of them or one secondary merchant's.
pub async fn registrations_round_trip_are_unique_and_compare_and_set(store: &dyn Store) {
    let mut tx = store.begin().await.expect("begin");
    let mut first = registration("smr_1", "shop_a", "R1", T0);
    tx.insert_registration(&first).await.expect("registration");
    let clash = tx
        .insert_registration(&registration("smr_2", "shop_b", "R1", T0))
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "registrationRequestId: {clash:?}"
    );
    let clash = tx
        .insert_registration(&registration("smr_1", "shop_b", "R9", T0))
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "id: {clash:?}"
    );
    // Created with smr_1 (the id, compared byte by byte, breaks the tie: `B` < `a`), later, and
    // another secondary merchant's.
    tx.insert_registration(&registration("smr_a", "shop_a", "R3", T0))
        .await
        .expect("still usable");
    tx.insert_registration(&registration("smr_0", "shop_a", "R0", T0 + 5))
        .await
        .expect("registration");
    tx.insert_registration(&registration("smr_B", "shop_b", "R4", T0))
        .await
        .expect("registration");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    let stale = tx
        .registration(&first.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stale, first, "read back as written");
    first.state = RegistrationState::Accepted;
    first.sends = 2;
    first.inquiries = 1;
    first.round_started_at = T0 + 10;
    first.updated_at = T0 + 10;
    first.result_code = Some("UNKNOWN_EXCEPTION".into());
    first.result_message = Some("m".into());
    first.review = Some(
        ams_protocol::RegistrationResult::new(ams_protocol::RegistrationStatus::Pending)
            .with_reject_reasons("none yet"),
    );
    first.wallets = vec![
        ams_protocol::PspRegistrationResult::new(
            "AlipayCN",
            ams_protocol::RegistrationResult::new(ams_protocol::RegistrationStatus::Approved),
        ),
        ams_protocol::PspRegistrationResult::new(
            "GCash",
            ams_protocol::RegistrationResult::new(ams_protocol::RegistrationStatus::Rejected)
                .with_reject_reasons("license unreadable"),
        ),
    ];
    assert!(tx.update_registration(&first).await.expect("update"));
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        !tx.update_registration(&stale).await.expect("update"),
        "a stale version was written"
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    let stored = tx
        .registration_by_request_id(&RegistrationRequestId::new("R1"))
        .await
        .expect("read")
        .expect("exists");
    first.version = 1;
    assert_eq!(stored, first);
    assert_eq!(
        tx.registration_by_request_id(&RegistrationRequestId::new("R2"))
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        tx.registration(&RegistrationId::new("smr_2"))
            .await
            .expect("read"),
        None,
        "the refused insert left nothing"
    );
    let ids = |all: Vec<Registration>| {
        all.into_iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(tx.registrations(None).await.expect("read")),
        ["smr_0", "smr_a", "smr_B", "smr_1"],
        "newest first, then by id"
    );
    assert_eq!(
        ids(tx.registrations(Some("shop_a")).await.expect("read")),
        ["smr_0", "smr_a", "smr_1"]
    );
    assert_eq!(
        tx.registrations(Some("shop_a")).await.expect("read")[2],
        first,
        "the list reads whole records"
    );
    assert!(
        tx.registrations(Some("shop_z"))
            .await
            .expect("read")
            .is_empty()
    );
    // Read a page at a time, in the same order, from the one a page ended with.
    let page = |after: Option<&str>, limit| PageRequest {
        after: after.map(str::to_owned),
        limit,
    };
    assert_eq!(
        ids(tx
            .list_registrations(None, &page(None, 2))
            .await
            .expect("read")),
        ["smr_0", "smr_a"]
    );
    assert_eq!(
        ids(tx
            .list_registrations(None, &page(Some("smr_a"), 2))
            .await
            .expect("read")),
        ["smr_B", "smr_1"]
    );
    assert_eq!(
        ids(tx
            .list_registrations(Some("shop_a"), &page(Some("smr_a"), 5))
            .await
            .expect("read")),
        ["smr_1"]
    );
    assert!(
        tx.list_registrations(None, &page(Some("smr_none"), 5))
            .await
            .expect("read")
            .is_empty()
    );
}

/// After a refresh rotates the access token, the old one still names the authorization.
pub async fn a_rotated_token_still_finds_its_authorization(store: &dyn Store) {
    seed_order(store).await;
    let id = crate::model::AuthorizationId::new("auth_1");
    let mut tx = store.begin().await.expect("begin");
    let mut auth = tx.authorization(&id).await.expect("read").expect("exists");
    let old = auth.token.as_ref().expect("token").access_token.clone();
    if let Some(token) = auth.token.as_mut() {
        token.access_token = AccessToken::new("tok-2");
    }
    assert!(tx.update_authorization(&auth).await.expect("update"));
    tx.retire_access_token(&id, &old).await.expect("retire");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    for token in [old, AccessToken::new("tok-2")] {
        let found = tx
            .authorization_by_access_token(&token)
            .await
            .expect("read");
        assert_eq!(found.map(|a| a.id), Some(id.clone()));
    }
    assert!(
        tx.authorization_by_access_token(&AccessToken::new("tok-x"))
            .await
            .expect("read")
            .is_none()
    );
}

/// Scheduling a subject twice keeps one job, due at the earlier time; claims take due jobs in
/// due order, each under the claim's lease, and a held job is not taken again until its lease
/// ends; a lease is renewed only by its token.
pub async fn one_job_per_subject_claimed_in_due_order_under_leases(store: &dyn Store) {
    let a = JobKind::Payment(AttemptId::new("att_a"));
    let b = JobKind::Refund(RefundId::new("re_b"));
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(a.clone(), T0 + 5_000)
        .await
        .expect("schedule");
    tx.schedule_job(a.clone(), T0 + 2_000)
        .await
        .expect("schedule");
    tx.schedule_job(a.clone(), T0 + 9_000)
        .await
        .expect("later is ignored");
    tx.schedule_job(b.clone(), T0 + 1_000)
        .await
        .expect("schedule");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.job_of(&a).await.expect("read").map(|j| j.due_at),
        Some(T0 + 2_000)
    );
    drop(tx);
    assert!(
        store
            .claim_jobs(&claim("early", T0))
            .await
            .expect("claim")
            .is_empty()
    );
    let taken = store
        .claim_jobs(&claim("w1", T0 + 3_000))
        .await
        .expect("claim");
    let kinds: Vec<_> = taken.iter().map(|j| j.kind.clone()).collect();
    assert_eq!(kinds, vec![b.clone(), a.clone()], "due order");
    assert!(taken.iter().all(|j| j.attempts == 1));
    assert!(
        taken
            .iter()
            .all(|j| j.lease.as_ref().is_some_and(|l| l.token.as_str() == "w1"))
    );
    assert!(
        store
            .claim_jobs(&claim("w2", T0 + 4_000))
            .await
            .expect("claim")
            .is_empty()
    );
    assert!(
        store
            .claim_job(&a, T0 + 4_000, &LeaseToken::new("w2"), 30_000)
            .await
            .expect("claim one")
            .is_none(),
        "a held job was taken by id"
    );
    let job_a = taken.iter().find(|j| j.kind == a).expect("a").clone();
    assert!(
        !store
            .renew_lease(&job_a.id, &LeaseToken::new("w2"), T0 + 90_000)
            .await
            .expect("renew")
    );
    assert!(
        store
            .renew_lease(&job_a.id, &LeaseToken::new("w1"), T0 + 90_000)
            .await
            .expect("renew")
    );
    // b's lease ends at T0 + 33 000; a's was renewed.
    let again = store
        .claim_jobs(&claim("w3", T0 + 40_000))
        .await
        .expect("claim");
    assert_eq!(
        again.iter().map(|j| j.kind.clone()).collect::<Vec<_>>(),
        vec![b.clone()]
    );
    assert_eq!(again[0].attempts, 2);
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.complete_job(&job_a.id, &LeaseToken::new("w1"))
            .await
            .expect("complete")
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.job_of(&a).await.expect("read").is_none(),
        "completed job remains"
    );
    drop(tx);
    // A job nobody holds is taken by kind, due or not.
    let c = JobKind::Authorization(crate::model::AuthorizationId::new("auth_c"));
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(c.clone(), T0 + 999_000)
        .await
        .expect("schedule");
    tx.commit().await.expect("commit");
    let held = store
        .claim_job(&c, T0 + 41_000, &LeaseToken::new("now"), 30_000)
        .await
        .expect("claim one");
    assert_eq!(held.map(|j| j.kind), Some(c));
}

/// A worker whose lease was taken over cannot complete or reschedule the job, and the state
/// change it applies still commits on its own.
pub async fn a_lost_lease_writes_nothing_of_its_job(store: &dyn Store) {
    seed_order(store).await;
    let kind = JobKind::Payment(AttemptId::new("att_1"));
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(kind.clone(), T0).await.expect("schedule");
    tx.commit().await.expect("commit");
    let job = store
        .claim_jobs(&claim("w1", T0))
        .await
        .expect("claim")
        .remove(0);
    let stolen = store
        .claim_jobs(&claim("w2", T0 + 31_000))
        .await
        .expect("claim");
    assert_eq!(stolen.len(), 1, "the expired lease was not taken over");
    assert!(
        !store
            .renew_lease(&job.id, &LeaseToken::new("w1"), T0 + 99_000)
            .await
            .expect("renew")
    );
    let mut tx = store.begin().await.expect("begin");
    assert!(
        !tx.complete_job(&job.id, &LeaseToken::new("w1"))
            .await
            .expect("not held")
    );
    assert!(
        !tx.reschedule_job(&job.id, &LeaseToken::new("w1"), T0)
            .await
            .expect("not held")
    );
    let mut seen = tx
        .attempt(&AttemptId::new("att_1"))
        .await
        .expect("read")
        .expect("exists");
    seen.state = AttemptState::Sent;
    assert!(tx.update_attempt(&seen).await.expect("update"));
    tx.commit().await.expect("the result alone commits");
    let mut tx = store.begin().await.expect("begin");
    let stored = tx
        .attempt(&AttemptId::new("att_1"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.state, AttemptState::Sent);
    let job = tx.job_of(&kind).await.expect("read").expect("still there");
    assert_eq!(job.lease.map(|l| l.token), Some(LeaseToken::new("w2")));
}

/// Scheduling a job a worker holds does not disturb the worker; when it completes or reschedules
/// the job, the job stays (or becomes) due no later than the schedule asked.
pub async fn a_schedule_while_held_runs_when_the_holder_lets_go(store: &dyn Store) {
    let kind = JobKind::Payment(AttemptId::new("att_1"));
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(kind.clone(), T0).await.expect("schedule");
    tx.commit().await.expect("commit");
    let job = store
        .claim_jobs(&claim("w1", T0))
        .await
        .expect("claim")
        .remove(0);
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(kind.clone(), T0 + 1_000)
        .await
        .expect("schedule");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.complete_job(&job.id, &LeaseToken::new("w1"))
            .await
            .expect("held")
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    let after = tx
        .job_of(&kind)
        .await
        .expect("read")
        .expect("kept for the schedule");
    assert_eq!(after.due_at, T0 + 1_000);
    assert!(after.lease.is_none());
    drop(tx);
    let job = store
        .claim_jobs(&claim("w2", T0 + 1_000))
        .await
        .expect("claim")
        .remove(0);
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(kind.clone(), T0 + 2_000)
        .await
        .expect("schedule");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.reschedule_job(&job.id, &LeaseToken::new("w2"), T0 + 60_000)
            .await
            .expect("held")
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    let after = tx.job_of(&kind).await.expect("read").expect("kept");
    assert_eq!(after.due_at, T0 + 2_000, "the earlier of the two");
    assert_eq!(after.attempts, 0, "a reschedule is progress");
}

/// A job taken `max_attempts` times in a row without finishing is set aside with an attention
/// item (subject: the job) instead of running again; scheduling it brings it back.
pub async fn a_job_taken_too_often_is_set_aside_and_scheduling_brings_it_back(store: &dyn Store) {
    let kind = JobKind::Refund(RefundId::new("re_1"));
    let other = JobKind::Refund(RefundId::new("re_2"));
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(kind.clone(), T0).await.expect("schedule");
    tx.commit().await.expect("commit");
    let mut now = T0;
    for round in 1..=3 {
        let taken = store.claim_jobs(&claim("w", now)).await.expect("claim");
        assert_eq!(taken.len(), 1, "round {round}");
        now += 31_000;
    }
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(other.clone(), T0).await.expect("schedule");
    tx.commit().await.expect("commit");
    let taken = store.claim_jobs(&claim("w", now)).await.expect("claim");
    assert_eq!(
        taken.iter().map(|j| j.kind.clone()).collect::<Vec<_>>(),
        vec![other],
        "the exhausted job ran again, or held back the others"
    );
    let items = store.open_attention(None, 10).await.expect("attention");
    let dead: Vec<_> = items
        .iter()
        .filter(|i| matches!(i.subject, Subject::Job(_)) && i.code == "job_dead_letter")
        .collect();
    assert_eq!(dead.len(), 1, "{items:?}");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.job_of(&kind).await.expect("read").is_none(),
        "a dead job shows as live"
    );
    tx.schedule_job(kind.clone(), now).await.expect("schedule");
    tx.commit().await.expect("commit");
    let back = store
        .claim_jobs(&claim("w", now + 31_000))
        .await
        .expect("claim");
    assert!(
        back.iter().any(|j| j.kind == kind && j.attempts == 1),
        "{back:?}"
    );
}

fn item(id: &str, subject: &Subject, code: &str, reason: &str, at: Millis) -> AttentionItem {
    AttentionItem {
        id: AttentionId::new(id),
        subject: subject.clone(),
        code: code.into(),
        reason: reason.into(),
        tried: "tried".into(),
        actions: vec![OperatorAction::InquireNow, OperatorAction::Resolve],
        opened_at: at,
        updated_at: at,
        resolution: None,
    }
}

/// One open item per subject and code: raising it again updates it; resolving closes it; the
/// listing pages by cursor.
pub async fn attention_items_open_once_and_close(store: &dyn Store) {
    let order = Subject::Order(OrderId::new("pay_1"));
    let refund = Subject::Refund(RefundId::new("re_1"));
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.raise_attention(&item("atn_1", &order, "cancel_unanswered", "first", T0))
            .await
            .expect("raise")
    );
    assert!(
        !tx.raise_attention(&item("atn_2", &order, "cancel_unanswered", "again", T0 + 5))
            .await
            .expect("raise")
    );
    assert!(
        tx.raise_attention(&item(
            "atn_3",
            &order,
            "payment_unconfirmed",
            "other",
            T0 + 6
        ))
        .await
        .expect("raise")
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.raise_attention(&item("atn_4", &refund, "refund_unresolved", "r", T0 + 7))
            .await
            .expect("raise")
    );
    let open = tx.attention_of(&order).await.expect("read");
    assert_eq!(open.len(), 2, "{open:?}");
    let first = open
        .iter()
        .find(|i| i.code == "cancel_unanswered")
        .expect("kept");
    assert_eq!(first.id, AttentionId::new("atn_1"));
    assert_eq!(first.reason, "again");
    assert_eq!(first.updated_at, T0 + 5);
    let resolution = Resolution {
        at: T0 + 10,
        reason: "settled".into(),
    };
    assert_eq!(
        tx.resolve_attention(&order, Some("cancel_unanswered"), &resolution)
            .await
            .expect("resolve"),
        1
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    let closed = tx
        .attention(&AttentionId::new("atn_1"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(closed.resolution, Some(resolution));
    assert_eq!(tx.attention_of(&order).await.expect("read").len(), 1);
    drop(tx);
    let all = store.open_attention(None, 10).await.expect("list");
    assert_eq!(
        all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["atn_3", "atn_4"]
    );
    let page = store
        .open_attention(Some(&AttentionId::new("atn_3")), 10)
        .await
        .expect("page");
    assert_eq!(
        page.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["atn_4"]
    );
    // Raised again after it was closed: a new item.
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.raise_attention(&item("atn_5", &order, "cancel_unanswered", "back", T0 + 20))
            .await
            .expect("raise")
    );
    tx.commit().await.expect("commit");
}

/// A notification's key and a merchant's idempotency key are stored once.
pub async fn inbox_and_idempotency_keys_are_kept_once(store: &dyn Store) {
    let entry = InboxEntry {
        dedup_key: "notifyPayment:1".into(),
        path: "/notify".into(),
        headers: vec![("signature".into(), "s".into())],
        body: Body::new("{}"),
        received_at: T0,
    };
    let record = IdempotencyRecord {
        key: "key-1".into(),
        fingerprint: "fp".into(),
        resource: "pay_1".into(),
        created_at: T0,
    };
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.inbox_insert(&entry).await.expect("inbox"));
    assert!(
        !tx.inbox_insert(&entry).await.expect("inbox"),
        "twice in one unit of work"
    );
    assert!(tx.insert_idempotency(&record).await.expect("key"));
    assert!(
        !tx.insert_idempotency(&record).await.expect("key"),
        "twice in one unit of work"
    );
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert!(!tx.inbox_insert(&entry).await.expect("inbox"));
    assert!(!tx.insert_idempotency(&record).await.expect("key"));
    assert_eq!(tx.idempotency("key-1").await.expect("read"), Some(record));
}

fn page(after: Option<&str>, limit: u32) -> PageRequest {
    PageRequest {
        after: after.map(str::to_owned),
        limit,
    }
}

/// Lists read newest first (creation time, then id, descending), match every filter field set,
/// and page by cursor: the page after an item starts below it, whether or not it matches.
pub async fn lists_are_newest_first_filtered_and_paged_by_cursor(store: &dyn Store) {
    let mut tx = store.begin().await.expect("begin");
    // Two authorizations created at the same moment: the id breaks the tie.
    for (id, customer, at, state) in [
        ("auth_a", "cust-1", T0, AuthorizationState::Active),
        (
            "auth_b",
            "cust-2",
            T0 + 1,
            AuthorizationState::Revoked(RevokedBy::User),
        ),
        ("auth_c", "cust-1", T0 + 2, AuthorizationState::Active),
        ("auth_d", "cust-1", T0 + 2, AuthorizationState::Active),
    ] {
        let mut auth = active_authorization(id, &format!("tok-{id}"), at);
        auth.customer_id = customer.into();
        auth.state = state;
        tx.insert_authorization(&auth).await.expect("authorization");
    }
    for (id, reference, auth, at, state) in [
        ("pay_1", "ref-1", "auth_a", T0, OrderState::Succeeded),
        ("pay_2", "ref-2", "auth_a", T0 + 10, OrderState::Pending),
        ("pay_3", "ref-3", "auth_c", T0 + 20, OrderState::Failed),
    ] {
        let mut o = order(id, reference);
        o.authorization_id = crate::model::AuthorizationId::new(auth);
        o.created_at = at;
        o.state = state;
        tx.insert_order(&o).await.expect("order");
    }
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    let ids = |v: Vec<crate::model::Authorization>| -> Vec<String> {
        v.into_iter().map(|a| a.id.to_string()).collect()
    };
    let all = AuthorizationFilter::default();
    assert_eq!(
        ids(tx
            .list_authorizations(&all, &page(None, 10))
            .await
            .expect("list")),
        ["auth_d", "auth_c", "auth_b", "auth_a"],
        "lists: newest first, the id breaking ties"
    );
    assert_eq!(
        ids(tx
            .list_authorizations(&all, &page(None, 2))
            .await
            .expect("list")),
        ["auth_d", "auth_c"],
        "lists: at most the limit"
    );
    assert_eq!(
        ids(tx
            .list_authorizations(&all, &page(Some("auth_c"), 10))
            .await
            .expect("list")),
        ["auth_b", "auth_a"],
        "lists: the page after the cursor"
    );
    let cust1 = AuthorizationFilter {
        customer_id: Some("cust-1".into()),
        states: vec![AuthorizationState::Active],
    };
    assert_eq!(
        ids(tx
            .list_authorizations(&cust1, &page(Some("auth_b"), 10))
            .await
            .expect("list")),
        ["auth_a"],
        "lists: a cursor that does not match the filter still places the page"
    );
    let revoked = AuthorizationFilter {
        customer_id: None,
        states: vec![
            AuthorizationState::Revoked(RevokedBy::User),
            AuthorizationState::Expired,
        ],
    };
    assert_eq!(
        ids(tx
            .list_authorizations(&revoked, &page(None, 10))
            .await
            .expect("list")),
        ["auth_b"],
        "lists: any of the states"
    );
    assert!(
        tx.list_authorizations(&all, &page(Some("auth_zzz"), 10))
            .await
            .expect("list")
            .is_empty(),
        "lists: an unknown cursor reads as an empty page"
    );
    let orders =
        |v: Vec<Order>| -> Vec<String> { v.into_iter().map(|o| o.id.to_string()).collect() };
    assert_eq!(
        orders(
            tx.list_orders(&OrderFilter::default(), &page(None, 10))
                .await
                .expect("list")
        ),
        ["pay_3", "pay_2", "pay_1"],
        "lists: orders newest first"
    );
    let of_a = OrderFilter {
        authorization_id: Some(crate::model::AuthorizationId::new("auth_a")),
        ..OrderFilter::default()
    };
    assert_eq!(
        orders(tx.list_orders(&of_a, &page(None, 10)).await.expect("list")),
        ["pay_2", "pay_1"],
        "lists: orders of one authorization"
    );
    let by_reference = OrderFilter {
        reference: Some("ref-1".into()),
        states: vec![OrderState::Succeeded, OrderState::PartlyRefunded],
        ..OrderFilter::default()
    };
    assert_eq!(
        orders(
            tx.list_orders(&by_reference, &page(None, 10))
                .await
                .expect("list")
        ),
        ["pay_1"],
        "lists: orders by reference and state"
    );
    assert_eq!(
        orders(
            tx.list_orders(&of_a, &page(Some("pay_3"), 1))
                .await
                .expect("list")
        ),
        ["pay_2"],
        "lists: orders after a cursor, within the limit"
    );
}

/// A lease given back frees the job at once, due as before, and the take does not count toward
/// the job's attempts; a token that does not hold the lease changes nothing.
pub async fn a_released_lease_frees_the_job_without_counting_the_take(store: &dyn Store) {
    let kind = JobKind::Refund(RefundId::new("re_1"));
    let mut tx = store.begin().await.expect("begin");
    tx.schedule_job(kind.clone(), T0).await.expect("schedule");
    tx.commit().await.expect("commit");
    let job = store
        .claim_jobs(&claim("w1", T0))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(job.attempts, 1);
    assert!(
        !store
            .release_lease(&job.id, &LeaseToken::new("w2"))
            .await
            .expect("release"),
        "release: only the holder gives a lease back"
    );
    assert!(
        store
            .release_lease(&job.id, &LeaseToken::new("w1"))
            .await
            .expect("release"),
        "release: the holder gives it back"
    );
    let mut tx = store.begin().await.expect("begin");
    let after = tx.job_of(&kind).await.expect("read").expect("kept");
    assert_eq!(
        (after.due_at, after.attempts),
        (T0, 0),
        "release: due as before, not counted"
    );
    assert!(after.lease.is_none(), "release: no lease");
    drop(tx);
    let again = store.claim_jobs(&claim("w3", T0)).await.expect("claim");
    assert_eq!(again.len(), 1, "release: another worker takes it at once");
    assert!(
        !store
            .release_lease(&job.id, &LeaseToken::new("w1"))
            .await
            .expect("release"),
        "release: a lease given back cannot be given back again"
    );
}
