//! `/v1/events`: what happened, newest first, each with the resource it happened to as that
//! resource is now. An event's id is `evt_` and its outbox sequence number (sixteen digits), so it
//! never changes.

use autodebit_domain::model::{AuthorizationId, Event, EventKind, OrderId, RefundId};
use autodebit_domain::services::Error as DomainError;
use autodebit_domain::services::authorizations::Authorizations;
use autodebit_domain::services::payments::Payments;
use autodebit_domain::services::refunds::Refunds;
use autodebit_store::EventFilter;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::checked_limit;
use crate::http::dto::{
    AuthorizationBody, DeliveryAttemptBody, DeliveryBody, EventBody, EventData, EventQuery, List,
    PaymentBody, RefundBody, time,
};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::QueryParams;
use crate::http::state::{AppState, Tenant};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(redeliver_event))
}

/// An event's id.
pub fn event_id(seq: i64) -> String {
    format!("evt_{seq:016}")
}

/// The sequence number an event id names, when it is one.
pub fn seq_of(id: &str) -> Option<i64> {
    let digits = id.strip_prefix("evt_")?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|seq| *seq > 0)
}

/// The resource `subject` names, as it is now (`None`: not an authorization, payment, refund,
/// customs declaration or webhook endpoint, or gone).
async fn resource(tenant: &Tenant, subject: &str) -> Result<Option<Value>, ApiError> {
    let ctx = tenant.ctx().clone();
    let found = if subject.starts_with("auth_") {
        Authorizations::new(ctx)
            .authorization(&AuthorizationId::new(subject))
            .await
            .map(|a| serde_json::to_value(AuthorizationBody::from(&a)))
    } else if subject.starts_with("pay_") {
        Payments::new(ctx)
            .payment(&OrderId::new(subject))
            .await
            .map(|v| serde_json::to_value(PaymentBody::from(&v)))
    } else if subject.starts_with("we_") {
        let found = tenant.store().endpoint(subject).await?;
        return Ok(found.as_ref().and_then(|e| {
            serde_json::to_value(super::webhook_endpoints::EndpointBody::from(e)).ok()
        }));
    } else if subject.starts_with("re_") {
        Refunds::new(ctx)
            .refund_view(&RefundId::new(subject))
            .await
            .map(|v| serde_json::to_value(RefundBody::from(&v.refund)))
    } else if subject.starts_with("smr_") {
        autodebit_domain::services::registrations::Registrations::new(ctx)
            .view(&autodebit_domain::model::RegistrationId::new(subject))
            .await
            .map(|v| {
                serde_json::to_value(super::registrations::RegistrationBody::from(
                    &v.registration,
                ))
            })
    } else if subject.starts_with("cd_") {
        autodebit_domain::services::customs::Customs::new(ctx)
            .view(&autodebit_domain::model::DeclarationId::new(subject))
            .await
            .map(|v| serde_json::to_value(crate::http::dto::DeclarationBody::from(&v.declaration)))
    } else {
        return Ok(None);
    };
    match found {
        Ok(value) => Ok(value.ok()),
        Err(DomainError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The event as the merchant sees it.
pub async fn event_body(tenant: &Tenant, seq: i64, event: &Event) -> Result<EventBody, ApiError> {
    Ok(EventBody {
        id: event_id(seq),
        object: "event",
        kind: event.kind.name(),
        created_at: time(event.at),
        subject: event.subject.clone(),
        detail: event.detail.clone(),
        data: EventData {
            object: resource(tenant, &event.subject).await?,
        },
        deliveries: None,
    })
}

/// Event `seq`'s deliveries with their tries.
async fn deliveries(tenant: &Tenant, seq: i64) -> Result<Vec<DeliveryBody>, ApiError> {
    let store = tenant.store();
    let attempts = store.webhook_attempts(seq).await?;
    Ok(store
        .webhook_deliveries(seq)
        .await?
        .into_iter()
        .map(|d| DeliveryBody {
            next_attempt_at: (d.state == "pending").then(|| time(d.due_at)),
            attempts: attempts
                .iter()
                .filter(|a| a.endpoint == d.endpoint)
                .map(|a| DeliveryAttemptBody {
                    n: a.n,
                    at: time(a.at),
                    http_status: a.status,
                    latency_ms: a.latency_ms,
                    answer: a.answer.clone(),
                })
                .collect(),
            endpoint: d.endpoint,
            status: d.state,
        })
        .collect())
}

/// Events, newest first.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(EventQuery),
    responses((status = 200, description = "A page of events, newest first", body = List<EventBody>)),
    security(("api_key" = []))
)]
pub async fn list_events(
    Extension(tenant): Extension<Tenant>,
    QueryParams(query): QueryParams<EventQuery>,
) -> ApiResult<Json<List<EventBody>>> {
    let limit = checked_limit(query.limit)?;
    if let Some(kind) = &query.kind
        && EventKind::from_name(kind).is_none()
    {
        return Err(ApiError::invalid(
            "type",
            format!(
                "type must be one of {}",
                EventKind::ALL.map(|k| k.name()).join(", ")
            ),
        ));
    }
    let store = tenant.store();
    let before = match &query.starting_after {
        None => None,
        Some(after) => {
            let seq = match seq_of(after) {
                Some(seq) if store.event(seq).await?.is_some() => seq,
                _ => {
                    return Err(ApiError::invalid(
                        "starting_after",
                        "starting_after names no event",
                    ));
                }
            };
            Some(seq)
        }
    };
    let filter = EventFilter {
        kind: query.kind,
        subject: query.subject,
    };
    let mut events = store.list_events(&filter, before, limit + 1).await?;
    let has_more = events.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut data = Vec::with_capacity(events.len());
    for (seq, event) in &events {
        data.push(event_body(&tenant, *seq, event).await?);
    }
    Ok(Json(List::new(data, has_more)))
}

/// One event.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    params(("id" = String, Path, description = "`evt_…`")),
    responses((status = 200, description = "The event, with its deliveries", body = EventBody)),
    security(("api_key" = []))
)]
pub async fn get_event(
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventBody>> {
    let (seq, event) = find(&tenant, &id).await?;
    let mut body = event_body(&tenant, seq, &event).await?;
    body.deliveries = Some(deliveries(&tenant, seq).await?);
    Ok(Json(body))
}

async fn find(tenant: &Tenant, id: &str) -> Result<(i64, Event), ApiError> {
    let not_found = || ApiError::not_found("event", id);
    let seq = seq_of(id).ok_or_else(not_found)?;
    let event = tenant.store().event(seq).await?.ok_or_else(not_found)?;
    Ok((seq, event))
}

/// Sends the event again to every webhook endpoint it was made for (delivered or failed ones
/// too): due now, its tries go on counting.
#[utoipa::path(
    post,
    path = "/v1/events/{id}/redeliver",
    tag = "events",
    params(("id" = String, Path, description = "`evt_…`")),
    responses((status = 200, description = "The event, with its deliveries", body = EventBody)),
    security(("api_key" = []))
)]
pub async fn redeliver_event(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventBody>> {
    let (seq, event) = find(&tenant, &id).await?;
    tenant.store().redeliver_webhooks(seq, state.now()).await?;
    let mut body = event_body(&tenant, seq, &event).await?;
    body.deliveries = Some(deliveries(&tenant, seq).await?);
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_sequence_number_and_nothing_else() {
        assert_eq!(event_id(42), "evt_0000000000000042");
        assert_eq!(seq_of(&event_id(42)), Some(42));
        assert_eq!(
            seq_of(&event_id(i64::MAX)),
            None,
            "nineteen digits are not sixteen"
        );
        for bad in [
            "evt_42",
            "evt_+000000000000042",
            "pay_0000000000000042",
            "evt_0000000000000000",
            "evt_000000000000004x",
        ] {
            assert_eq!(seq_of(bad), None, "{bad}");
        }
    }
}
