//! Identifier and secret newtypes.
//!
//! Identifiers are plain transparent strings with `as_str`/`Display`. Access tokens, refresh tokens,
//! auth codes and payment-method ids are **secrets**: their `Debug` is redacted, they have no `Display`,
//! and the value is reached only through `expose_secret()`. Any struct that holds them therefore has a
//! safe derived `Debug`.

use crate::macros::{id_newtype, secret_newtype};

id_newtype!(
    /// `paymentRequestId`: the merchant's id of a payment, the idempotency key of pay (max 64).
    PaymentRequestId
);
id_newtype!(
    /// `paymentId`: Alipay's id of a payment (max 64).
    PaymentId
);
id_newtype!(
    /// `refundRequestId`: the merchant's id of a refund, the idempotency key of refund (max 64).
    RefundRequestId
);
id_newtype!(
    /// `refundId`: Alipay's id of a refund (max 64).
    RefundId
);
id_newtype!(
    /// `referenceOrderId`: the merchant's order id (max 64).
    ReferenceOrderId
);
id_newtype!(
    /// `referenceRefundId`: the merchant's refund reference (max 64).
    ReferenceRefundId
);
id_newtype!(
    /// `authState`: merchant-generated anti-tamper value echoed by the authorization redirect and
    /// notification (max 256).
    AuthState
);

secret_newtype!(
    /// `accessToken`: the Auto Debit credential returned by applyToken (max 128).
    AccessToken
);
secret_newtype!(
    /// `refreshToken`: exchanges for a new access token via applyToken (max 128).
    RefreshToken
);
secret_newtype!(
    /// `authCode`: the one-time code exchanged for an access token (max 128).
    AuthCode
);
secret_newtype!(
    /// `paymentMethod.paymentMethodId`: for Auto Debit this is the access token; for other products a
    /// card or payment-method token. Treated as a secret either way.
    PaymentMethodId
);

impl From<AccessToken> for PaymentMethodId {
    fn from(token: AccessToken) -> Self {
        PaymentMethodId::new(token.0)
    }
}

impl From<&AccessToken> for PaymentMethodId {
    fn from(token: &AccessToken) -> Self {
        PaymentMethodId::new(token.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_transparent_strings() {
        let id = PaymentRequestId::new("PAY_1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"PAY_1\"");
        assert_eq!(id.to_string(), "PAY_1");
        assert_eq!(id.as_str(), "PAY_1");
        assert_eq!("PAY_1".parse::<PaymentRequestId>().unwrap(), id);
        assert_eq!(PaymentRequestId::from(String::from("PAY_1")), id);
        let back: PaymentRequestId = serde_json::from_str("\"PAY_1\"").unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn secrets_are_redacted_in_debug_but_sent_on_the_wire() {
        let token = AccessToken::new("281010033AB2F588D14B43238637264FCA5A0001");
        let debug = format!("{token:?}");
        assert_eq!(debug, "AccessToken(<redacted; 40 chars>)");
        assert!(!debug.contains("2810"));
        assert_eq!(
            serde_json::to_string(&token).unwrap(),
            "\"281010033AB2F588D14B43238637264FCA5A0001\""
        );
        assert_eq!(
            token.expose_secret(),
            "281010033AB2F588D14B43238637264FCA5A0001"
        );
        let pm: PaymentMethodId = (&token).into();
        assert_eq!(pm.expose_secret(), token.expose_secret());
        assert_eq!(format!("{pm:?}"), "PaymentMethodId(<redacted; 40 chars>)");
        assert_eq!(
            format!("{:?}", AuthCode::new("3AB2")),
            "AuthCode(<redacted; 4 chars>)"
        );
        assert_eq!(
            format!("{:?}", RefreshToken::new("x")),
            "RefreshToken(<redacted; 1 chars>)"
        );
    }
}
