//! `GET /v1/events`: the event log as a JSON page, or followed live as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use legate_domain::api::{ApiError, ErrorCode, EventsQuery};
use legate_domain::{EventFilter, id::IdPrefix};

use super::AppState;
use super::errors::{Failure, bad_query};

/// How often an idle stream sends a comment, so proxies and clients know it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(q) = q.map_err(bad_query)?;
    let filter = filter_of(&s, &q).await?;
    let wants_stream = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
        let page = s.service.events_after(q.after, limit, &filter).await?;
        return Ok(Json(page).into_response());
    }
    // A reconnecting EventSource sends the last id it saw; it wins over `after`.
    let after = match headers.get("last-event-id") {
        None => q.after,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "the Last-Event-ID header is not a sequence number",
                    "send the `id` of the last event received",
                )
            })?,
    };
    let follower = s.service.follow(after, filter);
    // A stopping daemon ends the stream with a `shutting_down` error event; the client
    // resumes from its last id at the next daemon.
    let service = s.service.clone();
    let events = stream::unfold(Some((follower, service)), |state| async move {
        let (mut f, service) = state?;
        let next = tokio::select! {
            r = f.next() => r.map_err(ApiError::from),
            _ = service.until_stopping() => Err(ApiError::new(
                ErrorCode::ShuttingDown,
                "the daemon is shutting down",
                "follow again from the last event id: the next daemon goes on",
            )),
        };
        match next {
            Ok(e) => {
                let sse = SseEvent::default()
                    .id(e.seq.to_string())
                    .event(e.kind.as_str())
                    .json_data(&e)
                    .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"));
                Some((Ok::<_, Infallible>(sse), Some((f, service))))
            }
            // Tell the client why the stream ends; it resumes with its last id.
            Err(err) => {
                let sse = SseEvent::default()
                    .event("error")
                    .json_data(&err)
                    .unwrap_or_default();
                Some((Ok(sse), None))
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

async fn filter_of(s: &AppState, q: &EventsQuery) -> Result<EventFilter, Failure> {
    let task = match &q.task {
        Some(t) => {
            IdPrefix::parse(t)
                .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string(), ""))?;
            Some(s.service.get(t, false).await?.id)
        }
        None => None,
    };
    let kinds = EventFilter::parse_kinds(q.kind.as_deref().unwrap_or(""))
        .map_err(|m| ApiError::new(ErrorCode::InvalidRequest, m, ""))?;
    Ok(EventFilter {
        task,
        origin: q.origin.clone(),
        label: q.label.clone(),
        kinds,
    })
}
