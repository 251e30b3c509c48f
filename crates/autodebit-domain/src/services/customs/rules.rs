//! The rules a declaration's command and changes are checked against before anything is stored,
//! and the cap of the declared total.

use ams_protocol::{Amount, CustomsCode, DeclareRequest, UserName};

use super::{DeclarationChanges, DeclareCommand};
use crate::model::{Body, Declaration, DeclarationId};
use crate::services::{Error, invalid};

pub(super) fn body_of(request: &DeclareRequest) -> Result<Body, Error> {
    Ok(Body::new(serde_json::to_string(request).map_err(|e| {
        invalid(
            "declaration",
            format!("the declare body does not serialise: {e}"),
        )
    })?))
}

/// The documented field rules, before anything is stored (the same rules the client applies).
pub(super) fn validate(command: &DeclareCommand) -> Result<(), Error> {
    if command.idempotency_key.trim().is_empty() {
        return Err(invalid("idempotency_key", "is required"));
    }
    for (field, value) in [
        ("customs_code", &command.customs_code),
        ("merchant_customs_code", &command.merchant_customs_code),
        ("merchant_customs_name", &command.merchant_customs_name),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(field, "is required"));
        }
    }
    if let Some(amount) = &command.amount
        && amount.is_zero()
    {
        return Err(invalid("amount", "must be more than 0"));
    }
    if let Some(suborder) = &command.suborder_id
        && (suborder.trim().is_empty() || suborder.chars().count() > 64)
    {
        return Err(invalid("suborder_id", "must be 1 to 64 characters"));
    }
    if let Some(buyer) = &command.buyer {
        if buyer.certificate_type.trim().is_empty() {
            return Err(invalid("buyer.certificate_type", "is required"));
        }
        if buyer.certificate_no.trim().is_empty() || buyer.certificate_no.chars().count() > 64 {
            return Err(invalid(
                "buyer.certificate_no",
                "must be 1 to 64 characters",
            ));
        }
        if buyer.full_name.trim().is_empty() || buyer.full_name.chars().count() > 128 {
            return Err(invalid("buyer.full_name", "must be 1 to 128 characters"));
        }
    }
    Ok(())
}

pub(super) fn validate_changes(changes: &DeclarationChanges) -> Result<(), Error> {
    if changes == &DeclarationChanges::default() {
        return Err(invalid(
            "changes",
            "name at least one field to change (a re-send of the same body changes nothing)",
        ));
    }
    if let Some(amount) = &changes.amount
        && amount.is_zero()
    {
        return Err(invalid("amount", "must be more than 0"));
    }
    for (field, value) in [
        ("customs_code", &changes.customs_code),
        ("merchant_customs_code", &changes.merchant_customs_code),
        ("merchant_customs_name", &changes.merchant_customs_name),
        ("suborder_id", &changes.suborder_id),
        ("buyer.full_name", &changes.buyer_full_name),
        ("buyer.certificate_no", &changes.buyer_certificate_no),
    ] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(invalid(field, "must not be empty"));
        }
    }
    Ok(())
}

/// Applies the changes a re-send may carry (digest §9.3.5) to the stored body.
pub(super) fn apply_changes(
    request: &mut DeclareRequest,
    changes: &DeclarationChanges,
) -> Result<(), Error> {
    if let Some(amount) = changes.amount {
        if amount.currency != request.declaration_amount.currency {
            return Err(invalid(
                "amount",
                format!(
                    "the declaration is in {}, the change in {}",
                    request.declaration_amount.currency, amount.currency
                ),
            ));
        }
        request.declaration_amount = amount;
    }
    if let Some(code) = &changes.customs_code {
        request.customs.customs_code = CustomsCode::from_wire(code);
    }
    if let Some(code) = &changes.merchant_customs_code {
        request
            .merchant_customs_info
            .merchant_customs_code
            .clone_from(code);
    }
    if let Some(name) = &changes.merchant_customs_name {
        request
            .merchant_customs_info
            .merchant_customs_name
            .clone_from(name);
    }
    if let Some(suborder) = &changes.suborder_id {
        if !request.split_order {
            return Err(invalid(
                "suborder_id",
                "the declaration is of a whole order: it has no sub-order id",
            ));
        }
        request.suborder_id = Some(suborder.clone());
    }
    if changes.buyer_full_name.is_some() || changes.buyer_certificate_no.is_some() {
        let Some(certificate) = request.buyer_certificate.as_mut() else {
            return Err(invalid("buyer", "no buyer was declared: it cannot change"));
        };
        if let Some(number) = &changes.buyer_certificate_no {
            certificate.certificate_no.clone_from(number);
        }
        if let Some(full_name) = &changes.buyer_full_name {
            certificate
                .holder_name
                .get_or_insert_with(UserName::default)
                .full_name = Some(full_name.clone());
        }
    }
    Ok(())
}

/// Refuses `amount` when, with the other declarations of the order that count (all but refused
/// ones, and not `replacing`), it would declare more than was paid. Declarations in another
/// currency than the payment's are left to Alipay's check (no rate is known here).
pub(super) fn check_total(
    paid: &Amount,
    amount: Amount,
    others: &[Declaration],
    replacing: Option<&DeclarationId>,
) -> Result<(), String> {
    if amount.currency != paid.currency {
        return Ok(());
    }
    let declared: u64 = others
        .iter()
        .filter(|d| d.state.counts() && Some(&d.id) != replacing)
        .filter(|d| d.amount.currency == paid.currency)
        .map(|d| d.amount.minor_units())
        .fold(0, u64::saturating_add);
    let left = paid.minor_units().saturating_sub(declared);
    if amount.minor_units() > left {
        return Err(format!(
            "declaring {amount} would pass what was paid ({paid}); {} is left to declare",
            Amount::new(paid.currency, left)
        ));
    }
    Ok(())
}
