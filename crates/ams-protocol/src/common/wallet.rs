//! `customerBelongsTo`: the wallet (payment method) a customer belongs to. The same strings are used as
//! `paymentMethod.paymentMethodType` in pay.

use crate::macros::wire_enum;

wire_enum! {
    /// The wallet / payment method of the customer (digest §5.7). Which wallets a merchant may use is
    /// contract-dependent.
    pub enum CustomerBelongsTo {
        /// Alipay (mainland China).
        AlipayCn = "ALIPAY_CN",
        /// AlipayHK.
        AlipayHk = "ALIPAY_HK",
        /// MPay (Macau).
        Mpay = "MPAY",
        /// DANA (Indonesia).
        Dana = "DANA",
        /// PayPay (Japan).
        Paypay = "PAYPAY",
        /// Boost (Malaysia).
        Boost = "BOOST",
        /// Touch 'n Go eWallet (Malaysia).
        Tng = "TNG",
        /// GrabPay Malaysia.
        GrabpayMy = "GRABPAY_MY",
        /// HiPay (Mongolia).
        Hipay = "HIPAY",
        /// GCash (Philippines).
        Gcash = "GCASH",
        /// Maya (Philippines).
        Maya = "MAYA",
        /// GrabPay Philippines.
        GrabpayPh = "GRABPAY_PH",
        /// GrabPay Singapore.
        GrabpaySg = "GRABPAY_SG",
        /// KakaoPay (Korea).
        Kakaopay = "KAKAOPAY",
        /// Naver Pay (Korea).
        Naverpay = "NAVERPAY",
        /// Toss Pay (Korea).
        Tosspay = "TOSSPAY",
        /// Rabbit LINE Pay (Thailand).
        RabbitLinePay = "RABBIT_LINE_PAY",
        /// TrueMoney (Thailand).
        Truemoney = "TRUEMONEY",
        /// K PLUS (Thailand).
        Kplus = "KPLUS",
        /// Direct debit, Siam Commercial Bank.
        DirectDebitSiamcommercialbank = "DIRECT_DEBIT_SIAMCOMMERCIALBANK",
        /// Direct debit, Krungthai Bank.
        DirectDebitKrungthaibank = "DIRECT_DEBIT_KRUNGTHAIBANK",
        /// ACH direct debit (US).
        AchDirectDebit = "ACH_DIRECT_DEBIT",
        /// ZaloPay (Vietnam).
        Zalopay = "ZALOPAY",
        /// MoMo (Vietnam).
        Momo = "MOMO",
        /// Viettel Money (Vietnam).
        Viettelmoney = "VIETTELMONEY",
        /// JKOPAY (Taiwan).
        Jkopay = "JKOPAY",
        /// bKash (Bangladesh).
        Bkash = "BKASH",
        /// Easypaisa (Pakistan).
        Easypaisa = "EASYPAISA",
        /// Direct debit via Yapily.
        DirectdebitYapily = "DIRECTDEBIT_YAPILY",
        /// Antom Business Account.
        AntomBizAccount = "ANTOM_BIZ_ACCOUNT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_wallet_list_round_trips() {
        assert_eq!(CustomerBelongsTo::KNOWN.len(), 30);
        for w in CustomerBelongsTo::KNOWN {
            let json = serde_json::to_string(w).unwrap();
            assert_eq!(
                serde_json::from_str::<CustomerBelongsTo>(&json).unwrap(),
                *w
            );
        }
        let unknown: CustomerBelongsTo = serde_json::from_str("\"NEW_WALLET\"").unwrap();
        assert_eq!(unknown, CustomerBelongsTo::Unknown("NEW_WALLET".into()));
        assert_eq!(serde_json::to_string(&unknown).unwrap(), "\"NEW_WALLET\"");
        assert_eq!(CustomerBelongsTo::from("GCASH"), CustomerBelongsTo::Gcash);
        assert_eq!(CustomerBelongsTo::Gcash.to_string(), "GCASH");
    }
}
