//! `order` and its parts: merchant, store, goods, buyer, shipping, address, user name.

use serde::{Deserialize, Serialize};

use super::amount::Amount;
use super::env::Env;
use super::ids::ReferenceOrderId;
use crate::macros::optional_setters;

/// `order` (SDK `Order`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Order {
    /// `referenceOrderId`: the merchant's order id (max 64).
    pub reference_order_id: ReferenceOrderId,
    /// `orderDescription` (max 256), shown to the user.
    pub order_description: String,
    /// `orderAmount`.
    pub order_amount: Amount,
    /// `orderDiscountAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_discount_amount: Option<Amount>,
    /// `merchant`: the (secondary) merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<Merchant>,
    /// `goods` (at most 100 items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods: Option<Vec<Goods>>,
    /// `shipping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Shipping>,
    /// `buyer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    /// `env` of the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
    /// `extendInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl Order {
    /// An order with its required fields.
    #[must_use]
    pub fn new(
        reference_order_id: impl Into<ReferenceOrderId>,
        order_description: impl Into<String>,
        order_amount: Amount,
    ) -> Self {
        Order {
            reference_order_id: reference_order_id.into(),
            order_description: order_description.into(),
            order_amount,
            order_discount_amount: None,
            merchant: None,
            goods: None,
            shipping: None,
            buyer: None,
            env: None,
            extend_info: None,
        }
    }
}

optional_setters!(Order {
    with_merchant => merchant: Merchant,
    with_goods => goods: Vec<Goods>,
    with_shipping => shipping: Shipping,
    with_buyer => buyer: Buyer,
    with_env => env: Env,
    with_extend_info => extend_info: String,
});

/// `order.merchant` (SDK `Merchant`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Merchant {
    /// `referenceMerchantId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_merchant_id: Option<String>,
    /// `merchantMCC`.
    #[serde(
        default,
        rename = "merchantMCC",
        skip_serializing_if = "Option::is_none"
    )]
    pub merchant_mcc: Option<String>,
    /// `merchantName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    /// `merchantDisplayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_display_name: Option<String>,
    /// `merchantAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_address: Option<Address>,
    /// `merchantRegisterDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_register_date: Option<String>,
    /// `store`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<Store>,
    /// `merchantType` (`INDIVIDUAL`, `ENTERPRISE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_type: Option<String>,
}

/// `merchant.store` (SDK `Store`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Store {
    /// `referenceStoreId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
    /// `storeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_name: Option<String>,
    /// `storeMCC`.
    #[serde(default, rename = "storeMCC", skip_serializing_if = "Option::is_none")]
    pub store_mcc: Option<String>,
    /// `storeDisplayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_display_name: Option<String>,
    /// `storeTerminalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_terminal_id: Option<String>,
    /// `storeTerminalRequestTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_terminal_request_time: Option<String>,
    /// `storeAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_address: Option<Address>,
}

/// An address (SDK `Address`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Address {
    /// `region`: two-letter country/region code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `city`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// `address1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    /// `address2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    /// `zipCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<String>,
    /// `label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `address3` (SDK `Address`; used by merchant registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address3: Option<String>,
}

/// `order.goods[]` (SDK `Goods`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Goods {
    /// `referenceGoodsId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_goods_id: Option<String>,
    /// `goodsName` (max 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_name: Option<String>,
    /// `goodsCategory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_category: Option<String>,
    /// `goodsBrand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_brand: Option<String>,
    /// `goodsUnitAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_unit_amount: Option<Amount>,
    /// `goodsQuantity` (an integer as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_quantity: Option<String>,
    /// `goodsSkuName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_sku_name: Option<String>,
    /// `goodsUrl` (max 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_url: Option<String>,
    /// `goodsImageUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_image_url: Option<String>,
    /// `deliveryMethodType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_method_type: Option<String>,
}

/// `order.buyer` (SDK `Buyer`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Buyer {
    /// `referenceBuyerId` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_buyer_id: Option<String>,
    /// `buyerName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<UserName>,
    /// `buyerPhoneNo` (max 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_phone_no: Option<String>,
    /// `buyerEmail` (max 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    /// `buyerRegistrationTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_registration_time: Option<String>,
}

/// A person's name (SDK `UserName`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserName {
    /// `firstName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// `middleName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// `lastName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// `fullName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

/// `order.shipping` (SDK `Shipping`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Shipping {
    /// `shippingName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_name: Option<UserName>,
    /// `shippingAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// `shippingCarrier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_carrier: Option<String>,
    /// `shippingPhoneNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_phone_no: Option<String>,
    /// `shipToEmail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_email: Option<String>,
}
