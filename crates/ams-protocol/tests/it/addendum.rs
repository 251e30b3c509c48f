//! The digest addendum's APIs (§9): customs declaration, secondary-merchant registration, the
//! registration-status and ISV-authorization notifications. Sample bodies round-trip; the SDKs'
//! alternate spellings and types are read; what is written has the one documented spelling; every
//! request check names its field; the agent token never reaches `Debug`.

use ams_protocol::{
    ACK_SUCCESS_BODY, AgentToken, Amount, AmsRequest, AmsResponse, Api, Certificate,
    CertificateType, ClearingChannel, ContactType, Currency, CustomsCode, CustomsInfo,
    CustomsOffice, DeclarationRecord, DeclareRequest, DeclareResponse, ExtraNotification,
    FieldError, IdentityCheckResult, InquiryDeclarationRequestsRequest,
    InquiryDeclarationRequestsResponse, InquiryRegistrationInfoRequest,
    InquiryRegistrationInfoResponse, InquiryRegistrationStatusRequest,
    InquiryRegistrationStatusResponse, IsvAuthorizationNotification, MerchantCustomsInfo,
    MerchantRegistrationInfo, Notification, NotificationAck, NotifyRegistrationStatus, ProductCode,
    RegistrationDetail, RegistrationRequest, RegistrationResponse, RegistrationStatus, Rule,
    UserName, Validate, WebSite, request_path,
};
use serde_json::{Value, json};

use crate::support::round_trip;

fn addendum_fixture(name: &str) -> String {
    let path = format!(
        "{}/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/addendum")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture<T>(name: &str) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    round_trip(name, &addendum_fixture(name))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&addendum_fixture(name)).unwrap()
}

/// Asserts that `validate` fails on `field` with `rule`.
#[track_caller]
fn fails(result: Result<(), FieldError>, field: &str, rule: Rule) {
    let err = result.expect_err(field);
    assert_eq!((err.field(), err.rule()), (field, &rule), "{err}");
    assert!(err.to_string().starts_with(field), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Paths

#[test]
fn paths_and_names() {
    fn check<R: AmsRequest>(path: &str, name: &str) {
        assert_eq!(R::API.path(), path);
        assert_eq!(R::API.name(), name);
        assert_eq!(Api::from_path(path), Some(R::API));
        assert!(path.ends_with(name));
        assert_eq!(request_path(R::API, "2188000000000000"), path);
        assert_eq!(
            request_path(R::API, "SANDBOX_2188000000000000"),
            path.replacen("/ams/api", "/ams/sandbox/api", 1)
        );
        assert_eq!(
            Api::from_path(&request_path(R::API, "SANDBOX_2188000000000000")),
            Some(R::API)
        );
    }
    check::<DeclareRequest>("/ams/api/v1/customs/declare", "declare");
    check::<InquiryDeclarationRequestsRequest>(
        "/ams/api/v1/customs/inquiryDeclarationRequests",
        "inquiryDeclarationRequests",
    );
    check::<RegistrationRequest>("/ams/api/v1/merchants/registration", "registration");
    check::<InquiryRegistrationStatusRequest>(
        "/ams/api/v1/merchants/inquiryRegistrationStatus",
        "inquiryRegistrationStatus",
    );
    check::<InquiryRegistrationInfoRequest>(
        "/ams/api/v1/merchants/inquiryRegistrationInfo",
        "inquiryRegistrationInfo",
    );
}

// ---------------------------------------------------------------------------------------------
// declare

fn sample_declare() -> DeclareRequest {
    DeclareRequest::new(
        "decl_0001",
        "20211117194010800100188180203227785",
        Amount::new(Currency::CNY, 100),
        CustomsInfo::new(CustomsCode::Zongshu, "CN"),
        MerchantCustomsInfo::new("demo_code", "demo_name"),
    )
}

#[test]
fn declare_samples_round_trip() {
    let req: DeclareRequest = fixture("declare_request.json");
    assert_eq!(req.declaration_amount, Amount::new(Currency::CNY, 100));
    assert_eq!(req.customs.customs_code, CustomsCode::Zongshu);
    assert!(!req.split_order);
    assert_eq!(req.suborder_id, None);
    let cert = req.buyer_certificate.as_ref().unwrap();
    assert_eq!(cert.certificate_type, CertificateType::IdCard);
    assert_eq!(
        cert.holder_name.as_ref().unwrap().full_name.as_deref(),
        Some("F L")
    );
    req.validate().unwrap();
    let mut name = UserName::default();
    name.first_name = Some("F".into());
    name.last_name = Some("L".into());
    name.full_name = Some("F L".into());
    let built = sample_declare().with_buyer_certificate(
        Certificate::new(CertificateType::IdCard, "110101199001011234").with_holder_name(name),
    );
    assert_eq!(built, req);
    assert_eq!(
        serde_json::to_value(&built).unwrap(),
        fixture_json("declare_request.json")
    );

    let resp: DeclareResponse = fixture("declare_response.json");
    assert!(resp.result().is_success());
    assert_eq!(
        resp.identity_check_result,
        Some(IdentityCheckResult::CheckPassed)
    );
    assert_eq!(resp.clearing_channel, Some(ClearingChannel::Other));
    assert_eq!(
        resp.customs_provider_registration_id.as_deref(),
        Some("ZF14020001")
    );
}

#[test]
fn declare_reads_both_sub_order_spellings_and_writes_one() {
    let base = fixture_json("declare_request.json");
    for key in ["suborderId", "subOrderId"] {
        let mut body = base.clone();
        body["splitOrder"] = json!(true);
        body[key] = json!("SUB_1");
        let req: DeclareRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.suborder_id.as_deref(), Some("SUB_1"), "{key}");
        assert!(req.split_order);
        req.validate().unwrap();
        let out = serde_json::to_value(&req).unwrap();
        assert_eq!(out["suborderId"], "SUB_1");
        assert!(out.get("subOrderId").is_none(), "{out}");
        assert_eq!(out["splitOrder"], json!(true));
    }
    // Both spellings: accepted when they agree, refused when they differ.
    let mut body = base.clone();
    body["suborderId"] = json!("SUB_1");
    body["subOrderId"] = json!("SUB_1");
    let req: DeclareRequest = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(req.suborder_id.as_deref(), Some("SUB_1"));
    body["subOrderId"] = json!("SUB_2");
    let err = serde_json::from_value::<DeclareRequest>(body).unwrap_err();
    assert!(
        err.to_string().contains("suborderId") && err.to_string().contains("subOrderId"),
        "{err}"
    );
}

#[test]
fn declare_reads_split_order_as_bool_string_or_missing_and_writes_a_bool() {
    let base = fixture_json("declare_request.json");
    let cases = [
        (Some(json!(true)), true),
        (Some(json!(false)), false),
        (Some(json!("true")), true),
        (Some(json!("false")), false),
        (Some(json!("TRUE")), true),
        (Some(Value::Null), false),
        (None, false),
    ];
    for (value, expected) in cases {
        let mut body = base.clone();
        match &value {
            Some(v) => body["splitOrder"] = v.clone(),
            None => {
                body.as_object_mut().unwrap().remove("splitOrder");
            }
        }
        body["subOrderId"] = json!("SUB_1");
        let req: DeclareRequest =
            serde_json::from_value(body).unwrap_or_else(|e| panic!("splitOrder {value:?}: {e}"));
        assert_eq!(req.split_order, expected, "{value:?}");
        let out = serde_json::to_value(&req).unwrap();
        assert_eq!(out["splitOrder"], json!(expected), "{value:?}");
    }
    for bad in [json!("yes"), json!(1), json!([])] {
        let mut body = base.clone();
        body["splitOrder"] = bad.clone();
        assert!(
            serde_json::from_value::<DeclareRequest>(body).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn declare_writes_documented_camel_case_only() {
    let req = sample_declare().with_split_order("SUB_1");
    let body = serde_json::to_string(&req).unwrap();
    assert_eq!(
        body,
        concat!(
            r#"{"declarationRequestId":"decl_0001","paymentId":"20211117194010800100188180203227785","#,
            r#""declarationAmount":{"currency":"CNY","value":"100"},"#,
            r#""customs":{"customsCode":"ZONGSHU","region":"CN"},"#,
            r#""merchantCustomsInfo":{"merchantCustomsCode":"demo_code","merchantCustomsName":"demo_name"},"#,
            r#""splitOrder":true,"suborderId":"SUB_1"}"#
        )
    );
    // An unsplit order still sends splitOrder (false), as a boolean.
    let body = serde_json::to_string(&sample_declare()).unwrap();
    assert!(body.contains(r#""splitOrder":false"#), "{body}");
    assert!(!body.contains("suborderId"), "{body}");
}

#[test]
fn declare_checks_name_the_field() {
    sample_declare().validate().unwrap();
    let with = |f: &dyn Fn(&mut DeclareRequest)| {
        let mut r = sample_declare();
        f(&mut r);
        r.validate()
    };
    fails(
        with(&|r| r.declaration_request_id = "".into()),
        "declarationRequestId",
        Rule::Required,
    );
    fails(
        with(&|r| r.declaration_request_id = "x".repeat(33).into()),
        "declarationRequestId",
        Rule::CharsBetween(1, 32),
    );
    assert!(with(&|r| r.declaration_request_id = "x".repeat(32).into()).is_ok());
    fails(
        with(&|r| r.payment_id = "".into()),
        "paymentId",
        Rule::Required,
    );
    fails(
        with(&|r| r.payment_id = "9".repeat(65).into()),
        "paymentId",
        Rule::MaxChars(64),
    );
    fails(
        with(&|r| r.customs.customs_code = CustomsCode::from_wire("")),
        "customs.customsCode",
        Rule::Required,
    );
    fails(
        with(&|r| r.merchant_customs_info.merchant_customs_code = String::new()),
        "merchantCustomsInfo.merchantCustomsCode",
        Rule::Required,
    );
    fails(
        with(&|r| r.merchant_customs_info.merchant_customs_name = " ".into()),
        "merchantCustomsInfo.merchantCustomsName",
        Rule::Required,
    );
    fails(
        with(&|r| r.split_order = true),
        "suborderId",
        Rule::RequiredWhen("splitOrder is true"),
    );
    fails(
        with(&|r| {
            r.split_order = true;
            r.suborder_id = Some(String::new());
        }),
        "suborderId",
        Rule::RequiredWhen("splitOrder is true"),
    );
    fails(
        with(&|r| r.suborder_id = Some("s".repeat(65))),
        "suborderId",
        Rule::MaxChars(64),
    );
    fails(
        with(&|r| r.buyer_certificate = Some(Certificate::new(CertificateType::IdCard, ""))),
        "buyerCertificate.certificateNo",
        Rule::Required,
    );
    fails(
        with(&|r| {
            r.buyer_certificate = Some(Certificate::new(CertificateType::IdCard, "1".repeat(65)))
        }),
        "buyerCertificate.certificateNo",
        Rule::MaxChars(64),
    );
    for (field, max) in [
        ("firstName", 32),
        ("middleName", 32),
        ("lastName", 32),
        ("fullName", 128),
    ] {
        let mut name = UserName::default();
        let long = Some("n".repeat(max + 1));
        match field {
            "firstName" => name.first_name = long,
            "middleName" => name.middle_name = long,
            "lastName" => name.last_name = long,
            _ => name.full_name = long,
        }
        let cert = Certificate::new(CertificateType::IdCard, "1").with_holder_name(name);
        fails(
            sample_declare().with_buyer_certificate(cert).validate(),
            &format!("buyerCertificate.holderName.{field}"),
            Rule::MaxChars(max),
        );
    }
}

#[test]
fn customs_code_table() {
    assert_eq!(
        CustomsOffice::ALL
            .iter()
            .filter(|o| o.customs_code() == CustomsCode::Zongshu)
            .count(),
        5
    );
    assert_eq!(CustomsOffice::Ningbo.customs_code().as_str(), "NINGBO");
    assert_eq!(
        CustomsOffice::HenanBondedLogisticsCentre.customs_code(),
        CustomsCode::Zhengzhou
    );
    assert_eq!(CustomsOffice::Hangzhou.registration_id(), "ZF14021901");
    for code in CustomsCode::KNOWN {
        assert!(
            CustomsOffice::ALL.iter().any(|o| &o.customs_code() == code),
            "{code} reaches an office"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// inquiryDeclarationRequests

#[test]
fn inquiry_declaration_samples_round_trip() {
    let req: InquiryDeclarationRequestsRequest = fixture("inquiry_declaration_request.json");
    assert_eq!(
        req,
        InquiryDeclarationRequestsRequest::new(["decl_0001", "decl_0002"])
    );
    req.validate().unwrap();

    let resp: InquiryDeclarationRequestsResponse = fixture("inquiry_declaration_response.json");
    assert!(resp.result().is_success());
    assert_eq!(
        resp.declaration_requests_not_found.as_deref().unwrap()[0].as_str(),
        "decl_0002"
    );
    let record = &resp.declaration_records.as_ref().unwrap()[0];
    assert_eq!(record.split_order, Some(false));
    assert_eq!(
        record.declaration_amount,
        Some(Amount::new(Currency::CNY, 100))
    );
    assert_eq!(
        record.customs.as_ref().unwrap().customs_code,
        CustomsCode::Zongshu
    );
    assert_eq!(
        record
            .last_modified_time
            .as_ref()
            .unwrap()
            .unix_millis()
            .unwrap(),
        1_609_474_135_000
    );
    assert_eq!(record.customs_declaration_result_code.as_deref(), Some("2"));
}

#[test]
fn declaration_record_reads_split_order_strings_and_writes_a_bool() {
    for (value, expected) in [
        (json!("true"), Some(true)),
        (json!("false"), Some(false)),
        (json!(true), Some(true)),
        (Value::Null, None),
    ] {
        let record: DeclarationRecord =
            serde_json::from_value(json!({"declarationRequestId": "d", "splitOrder": value}))
                .unwrap();
        assert_eq!(record.split_order, expected);
        let out = serde_json::to_value(&record).unwrap();
        match expected {
            Some(b) => assert_eq!(out["splitOrder"], json!(b)),
            None => assert!(out.get("splitOrder").is_none()),
        }
    }
    let record: DeclarationRecord = serde_json::from_value(json!({})).unwrap();
    assert_eq!(record, DeclarationRecord::default());
}

#[test]
fn inquiry_declaration_checks_name_the_field() {
    fails(
        InquiryDeclarationRequestsRequest::new(Vec::<String>::new()).validate(),
        "declarationRequestIds",
        Rule::MinItems(1),
    );
    let ten: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
    InquiryDeclarationRequestsRequest::new(ten.clone())
        .validate()
        .unwrap();
    let mut eleven = ten;
    eleven.push("d10".into());
    fails(
        InquiryDeclarationRequestsRequest::new(eleven).validate(),
        "declarationRequestIds",
        Rule::MaxItems(10),
    );
    fails(
        InquiryDeclarationRequestsRequest::new(["ok", &"x".repeat(33)]).validate(),
        "declarationRequestIds[1]",
        Rule::CharsBetween(1, 32),
    );
    fails(
        InquiryDeclarationRequestsRequest::new(["ok", "ok2", ""]).validate(),
        "declarationRequestIds[2]",
        Rule::Required,
    );
}

// ---------------------------------------------------------------------------------------------
// registration

fn sample_registration() -> RegistrationRequest {
    RegistrationRequest::new(
        "reg_001",
        MerchantRegistrationInfo::new("sub_1"),
        vec![ProductCode::AgreementPayment],
    )
    .with_registration_notify_url("https://merchant.example/notify")
}

#[test]
fn registration_samples_round_trip() {
    let req: RegistrationRequest = fixture("registration_request.json");
    req.validate().unwrap();
    assert_eq!(req.product_codes, [ProductCode::AgreementPayment]);
    assert_eq!(
        req.registration_notify_url.as_deref(),
        Some("https://merchant.example/notify")
    );
    let info = &req.merchant_info;
    assert_eq!(info.reference_merchant_id, "sub_1");
    assert_eq!(info.merchant_mcc.as_deref(), Some("5812"));
    let detail = info.registration_detail.as_ref().unwrap();
    assert_eq!(
        detail.contact_info.as_ref().unwrap()[0].contact_type,
        Some(ContactType::Email)
    );
    assert_eq!(
        detail
            .registration_effective_date
            .as_ref()
            .unwrap()
            .as_str(),
        "2020-01-01T12:08:55+08:00"
    );
    assert_eq!(req.pass_through_info.as_deref(), Some(r#"{"k":"v"}"#));

    let resp: RegistrationResponse = fixture("registration_response.json");
    assert!(resp.result().is_success());
    assert_eq!(resp.pass_through_info, req.pass_through_info);
}

#[test]
fn registration_reads_both_notify_url_spellings_and_writes_one() {
    let mut base = fixture_json("registration_request.json");
    base.as_object_mut()
        .unwrap()
        .remove("registrationNotifyURL");
    for key in ["registrationNotifyURL", "registrationNotifyUrl"] {
        let mut body = base.clone();
        body[key] = json!("https://merchant.example/n2");
        let req: RegistrationRequest = serde_json::from_value(body).unwrap();
        assert_eq!(
            req.registration_notify_url.as_deref(),
            Some("https://merchant.example/n2"),
            "{key}"
        );
        let out = serde_json::to_value(&req).unwrap();
        assert_eq!(out["registrationNotifyURL"], "https://merchant.example/n2");
        assert!(out.get("registrationNotifyUrl").is_none(), "{out}");
    }
    let mut body = base.clone();
    body["registrationNotifyURL"] = json!("https://a.example");
    body["registrationNotifyUrl"] = json!("https://a.example");
    assert!(serde_json::from_value::<RegistrationRequest>(body.clone()).is_ok());
    body["registrationNotifyUrl"] = json!("https://b.example");
    let err = serde_json::from_value::<RegistrationRequest>(body).unwrap_err();
    assert!(err.to_string().contains("registrationNotifyUrl"), "{err}");
    // Without any notify URL.
    let req: RegistrationRequest = serde_json::from_value(base).unwrap();
    assert_eq!(req.registration_notify_url, None);
}

#[test]
fn registration_tolerates_a_single_product_code_and_java_dates() {
    let mut body = fixture_json("registration_request.json");
    body["productCodes"] = json!("CASHIER_PAYMENT");
    body["merchantInfo"]["registrationDetail"]["registrationEffectiveDate"] =
        json!(1_577_851_735_000_i64);
    body["merchantInfo"]["registrationDetail"]["registrationExpireDate"] = Value::Null;
    let req: RegistrationRequest = serde_json::from_value(body).unwrap();
    assert_eq!(req.product_codes, [ProductCode::CashierPayment]);
    let detail = req.merchant_info.registration_detail.as_ref().unwrap();
    let date = detail.registration_effective_date.as_ref().unwrap();
    assert_eq!(date.as_str(), "2020-01-01T04:08:55+00:00");
    assert_eq!(detail.registration_expire_date, None);
    let out = serde_json::to_value(&req).unwrap();
    assert_eq!(out["productCodes"], json!(["CASHIER_PAYMENT"]));
    assert_eq!(
        out["merchantInfo"]["registrationDetail"]["registrationEffectiveDate"],
        "2020-01-01T04:08:55+00:00"
    );
}

#[test]
fn registration_writes_documented_camel_case_only() {
    let mut info = MerchantRegistrationInfo::new("sub_1")
        .with_merchant_mcc("5812")
        .with_websites(vec![WebSite::new("https://merchant.example")])
        .with_registration_detail(RegistrationDetail::default().with_legal_name("Shop Ltd"));
    info.merchant_display_name = Some("Shop".into());
    let req = RegistrationRequest::new("reg_1", info, vec![ProductCode::AgreementPayment])
        .with_registration_notify_url("https://merchant.example/notify")
        .with_pass_through_info("{}");
    assert_eq!(
        serde_json::to_string(&req).unwrap(),
        concat!(
            r#"{"registrationRequestId":"reg_1","registrationNotifyURL":"https://merchant.example/notify","#,
            r#""passThroughInfo":"{}","merchantInfo":{"referenceMerchantId":"sub_1","#,
            r#""merchantDisplayName":"Shop","merchantMCC":"5812","#,
            r#""websites":[{"url":"https://merchant.example"}],"#,
            r#""registrationDetail":{"legalName":"Shop Ltd"}},"#,
            r#""productCodes":["AGREEMENT_PAYMENT"]}"#
        )
    );
}

#[test]
fn registration_checks_name_the_field() {
    sample_registration().validate().unwrap();
    let with = |f: &dyn Fn(&mut RegistrationRequest)| {
        let mut r = sample_registration();
        f(&mut r);
        r.validate()
    };
    fails(
        with(&|r| r.registration_request_id = "".into()),
        "registrationRequestId",
        Rule::Required,
    );
    fails(
        with(&|r| r.registration_request_id = "r".repeat(65).into()),
        "registrationRequestId",
        Rule::MaxChars(64),
    );
    fails(
        with(&|r| r.registration_notify_url = Some("merchant.example/notify".into())),
        "registrationNotifyURL",
        Rule::Url,
    );
    fails(
        with(&|r| {
            r.registration_notify_url = Some(format!("https://m.example/{}", "p".repeat(2048)))
        }),
        "registrationNotifyURL",
        Rule::MaxChars(2048),
    );
    fails(
        with(&|r| r.pass_through_info = Some("p".repeat(2049))),
        "passThroughInfo",
        Rule::MaxChars(2048),
    );
    fails(
        with(&|r| r.merchant_info.reference_merchant_id = String::new()),
        "merchantInfo.referenceMerchantId",
        Rule::Required,
    );
    fails(
        with(&|r| r.merchant_info.reference_merchant_id = "m".repeat(65)),
        "merchantInfo.referenceMerchantId",
        Rule::MaxChars(64),
    );
    fails(
        with(&|r| {
            r.merchant_info.websites = Some(vec![
                WebSite::new("https://ok.example"),
                WebSite::new("not a url"),
            ])
        }),
        "merchantInfo.websites[1].url",
        Rule::Url,
    );
    fails(
        with(&|r| r.merchant_info.websites = Some(vec![WebSite::default()])),
        "merchantInfo.websites[0].url",
        Rule::Required,
    );
    fails(
        with(&|r| r.product_codes.clear()),
        "productCodes",
        Rule::MinItems(1),
    );
    fails(
        with(&|r| {
            r.product_codes
                .push(ProductCode::from_wire("OTHER_PAYMENT"))
        }),
        "productCodes[1]",
        Rule::NotAllowed,
    );
    fails(
        with(&|r| r.product_codes = vec![ProductCode::InStorePayment]),
        "storeInfo",
        Rule::RequiredWhen("productCodes contains IN_STORE_PAYMENT"),
    );
    assert!(
        with(&|r| {
            r.product_codes = vec![ProductCode::InStorePayment];
            r.store_info = Some(json!({"referenceStoreId": "s1"}));
        })
        .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// inquiryRegistrationStatus / inquiryRegistrationInfo

#[test]
fn inquiry_registration_status_samples_round_trip() {
    let req: InquiryRegistrationStatusRequest = fixture("inquiry_registration_status_request.json");
    req.validate().unwrap();
    assert_eq!(
        req,
        InquiryRegistrationStatusRequest::for_merchant("218812000019****")
            .with_reference_store_id("34****")
    );
    let resp: InquiryRegistrationStatusResponse =
        fixture("inquiry_registration_status_response.json");
    assert!(resp.result().is_success());
    assert_eq!(
        resp.registration_result.unwrap().registration_status,
        Some(RegistrationStatus::Pending)
    );
}

#[test]
fn inquiry_registration_status_checks_name_the_field() {
    fails(
        InquiryRegistrationStatusRequest::default().validate(),
        "referenceMerchantId",
        Rule::AtLeastOneOf(&["registrationRequestId", "referenceStoreId"]),
    );
    fails(
        InquiryRegistrationStatusRequest::for_merchant("").validate(),
        "referenceMerchantId",
        Rule::AtLeastOneOf(&["registrationRequestId", "referenceStoreId"]),
    );
    InquiryRegistrationStatusRequest::for_registration("reg_1")
        .validate()
        .unwrap();
    InquiryRegistrationStatusRequest::default()
        .with_reference_store_id("s")
        .validate()
        .unwrap();
    fails(
        InquiryRegistrationStatusRequest::for_merchant("m".repeat(65)).validate(),
        "referenceMerchantId",
        Rule::MaxChars(64),
    );
    fails(
        InquiryRegistrationStatusRequest::for_registration("r".repeat(65)).validate(),
        "registrationRequestId",
        Rule::MaxChars(64),
    );
    fails(
        InquiryRegistrationStatusRequest::for_merchant("m")
            .with_reference_store_id("s".repeat(33))
            .validate(),
        "referenceStoreId",
        Rule::MaxChars(32),
    );
}

#[test]
fn inquiry_registration_info_round_trip_and_checks() {
    let req = InquiryRegistrationInfoRequest::new("sub_1");
    assert_eq!(
        serde_json::to_string(&req).unwrap(),
        r#"{"referenceMerchantId":"sub_1"}"#
    );
    req.validate().unwrap();
    fails(
        InquiryRegistrationInfoRequest::new("").validate(),
        "referenceMerchantId",
        Rule::Required,
    );
    fails(
        InquiryRegistrationInfoRequest::new("m".repeat(65)).validate(),
        "referenceMerchantId",
        Rule::MaxChars(64),
    );
    fails(
        InquiryRegistrationInfoRequest::new("m")
            .with_reference_store_id("s".repeat(33))
            .validate(),
        "referenceStoreId",
        Rule::MaxChars(32),
    );
    // A missing referenceMerchantId parses (tolerant) and is then refused by the check.
    let req: InquiryRegistrationInfoRequest = serde_json::from_str("{}").unwrap();
    fails(req.validate(), "referenceMerchantId", Rule::Required);

    let merchant = fixture_json("registration_request.json")["merchantInfo"].clone();
    let body = json!({
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "Success"},
        "merchantInfo": merchant,
        "productCodes": ["CASHIER_PAYMENT", "AGREEMENT_PAYMENT"]
    });
    let resp: InquiryRegistrationInfoResponse =
        round_trip("inquiryRegistrationInfo response", &body.to_string());
    assert_eq!(resp.merchant_info.unwrap().reference_merchant_id, "sub_1");
    assert_eq!(resp.product_codes.unwrap().len(), 2);
    let failed: InquiryRegistrationInfoResponse = serde_json::from_str(
        r#"{"result":{"resultCode":"RECORD_NOT_FOUND","resultStatus":"F","resultMessage":"x"}}"#,
    )
    .unwrap();
    assert!(failed.result().is_failure());
    assert_eq!(failed.result().code().as_str(), "RECORD_NOT_FOUND");
}

// ---------------------------------------------------------------------------------------------
// Notifications

#[test]
fn notify_registration_status_sample() {
    let n: NotifyRegistrationStatus = fixture("notify_registration_status.json");
    assert_eq!(
        n.registration_result.as_ref().unwrap().registration_status,
        Some(RegistrationStatus::Completed)
    );
    let psp = &n.psp_registration_result_list.as_ref().unwrap()[0];
    assert_eq!(psp.psp_name.as_deref(), Some("AlipayCN"));
    assert_eq!(
        psp.registration_result
            .as_ref()
            .unwrap()
            .registration_status,
        Some(RegistrationStatus::Approved)
    );
    let raw = addendum_fixture("notify_registration_status.json");
    let Some(ExtraNotification::RegistrationStatus(parsed)) =
        ExtraNotification::from_json(raw.as_bytes()).unwrap()
    else {
        panic!("not classified as notifyRegistrationStatus")
    };
    assert_eq!(*parsed, n);
    // The existing classifier leaves it unrecognised; the extra one takes its map.
    let Notification::Unrecognised(map) = Notification::from_json(raw.as_bytes()).unwrap() else {
        panic!("Notification classified a §9 body")
    };
    let extra = ExtraNotification::from_map(map).unwrap().unwrap();
    assert_eq!(extra.kind_name(), "notifyRegistrationStatus");
    // The acknowledgement is the usual one.
    assert_eq!(
        serde_json::to_string(&NotificationAck::success()).unwrap(),
        ACK_SUCCESS_BODY
    );
    // The Alipay+ spelling of the rejection reason is read, the AMS one written.
    let r: ams_protocol::RegistrationResult =
        serde_json::from_value(json!({"registrationStatus": "REJECTED", "rejectionReason": "why"}))
            .unwrap();
    assert_eq!(r.reject_reasons.as_deref(), Some("why"));
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"registrationStatus": "REJECTED", "rejectReasons": "why"})
    );
}

const ISV_TOKEN: &str = "ISVTOKEN0123456789ABCDEF0123456789ABCDEF01234567";

#[test]
fn isv_authorization_sample_and_redaction() {
    let n: IsvAuthorizationNotification = fixture("isv_authorization.json");
    assert_eq!(n.access_token.expose_secret(), ISV_TOKEN);
    assert_eq!(n.auth_client_id.as_deref(), Some("5XSR7C3046QK04354"));
    assert_eq!(n.auth_time_millis(), Some(1_491_746_302_568));
    assert_eq!(n.access_token_expiry_time.as_deref(), Some(""));

    let debug = format!("{n:?} {n:#?}");
    assert!(!debug.contains(ISV_TOKEN), "{debug}");
    assert!(!debug.contains("ISVTOKEN"), "{debug}");
    assert!(
        debug.contains("AgentToken(<redacted; 48 chars>)"),
        "{debug}"
    );
    assert!(
        debug.contains("5XSR7C3046QK04354"),
        "non-secrets stay visible"
    );
    assert_eq!(
        format!("{:?}", AgentToken::new("abc")),
        "AgentToken(<redacted; 3 chars>)"
    );
    // The wire form carries the real token.
    assert!(serde_json::to_string(&n).unwrap().contains(ISV_TOKEN));

    let raw = addendum_fixture("isv_authorization.json");
    let extra = ExtraNotification::from_json(raw.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(extra.kind_name(), "isvAuthorization");
    assert!(!format!("{extra:?}").contains(ISV_TOKEN));
    let ExtraNotification::IsvAuthorization(parsed) = extra else {
        panic!("not an ISV authorization")
    };
    assert_eq!(*parsed, n);

    // authTime as a JSON integer is read and written back as a string.
    let n: IsvAuthorizationNotification =
        serde_json::from_value(json!({"accessToken": "t", "authTime": 1_491_746_302_568_i64}))
            .unwrap();
    assert_eq!(n.auth_time.as_deref(), Some("1491746302568"));
}

#[test]
fn extra_classification_by_fields() {
    // A body with `result` is never one of these kinds (Auto Debit's notifyAuthorization has both
    // `result` and `accessToken`).
    let auth = br#"{"authorizationNotifyType":"TOKEN_CREATED","accessToken":"t","result":{"resultCode":"SUCCESS","resultStatus":"S"}}"#;
    assert_eq!(ExtraNotification::from_json(auth).unwrap(), None);
    assert_eq!(
        ExtraNotification::from_json(br#"{"other":1}"#).unwrap(),
        None
    );
    assert!(ExtraNotification::from_json(b"[1]").is_err());
    let err = ExtraNotification::from_json(br#"{"registrationResult":"oops"}"#).unwrap_err();
    assert!(
        err.to_string().starts_with("notifyRegistrationStatus body"),
        "{err}"
    );
    let err = ExtraNotification::from_json(br#"{"accessToken":5}"#).unwrap_err();
    assert!(
        err.to_string().starts_with("ISV authorization body"),
        "{err}"
    );
}

#[test]
fn unknown_fields_and_values_are_tolerated() {
    let resp: DeclareResponse = serde_json::from_value(json!({
        "result": {"resultCode": "DUPLICATED_DECLARATIONS", "resultStatus": "F"},
        "identityCheckResult": "CHECK_LATER",
        "clearingChannel": "NEW_CHANNEL",
        "brandNewField": {"x": 1}
    }))
    .unwrap();
    assert!(resp.result().is_failure());
    assert_eq!(
        resp.identity_check_result,
        Some(IdentityCheckResult::Unknown("CHECK_LATER".into()))
    );
    let out = serde_json::to_value(&resp).unwrap();
    assert_eq!(out["clearingChannel"], "NEW_CHANNEL");
    let status: RegistrationStatus = serde_json::from_str(r#""UNDER_REVIEW""#).unwrap();
    assert!(!status.is_known());
}
