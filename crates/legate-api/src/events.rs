//! Following the daemon's event stream (Server-Sent Events) from the client side.

use std::pin::Pin;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use http_body_util::BodyDataStream;
use hyper::Method;
use legate_domain::Event;
use legate_domain::api::{ApiError, EventsQuery};

use crate::client::{Client, ClientError};
use crate::routes;

type Messages = Pin<
    Box<
        dyn Stream<Item = Result<eventsource_stream::Event, EventStreamError<hyper::Error>>> + Send,
    >,
>;

/// A live subscription to the event log. It ends (with an error) when the connection drops or
/// the daemon stops; subscribe again with the sequence number of the last event received and
/// nothing is lost or repeated.
pub struct EventFeed {
    messages: Messages,
}

impl Client {
    /// `GET /v1/events` as a live stream: the events after `q.after` that `q`'s filters
    /// select (`q.limit` does not apply), then each as it happens. `q.after` travels as
    /// `Last-Event-ID` too, so subscribing again with the last event's `seq` loses and repeats
    /// nothing.
    ///
    /// Errors: those of every call (see [`crate::client`]); `invalid_request` for an unknown
    /// kind or a malformed task id; `not_found`, `ambiguous_id` for `q.task`. Only the answer's
    /// head is bound by the request timeout: the stream lasts as long as it lasts.
    pub async fn subscribe(&self, q: &EventsQuery) -> Result<EventFeed, ClientError> {
        let path = routes::with_query(routes::EVENTS, q)?;
        let headers = [
            ("accept", "text/event-stream".to_string()),
            ("last-event-id", q.after.to_string()),
        ];
        let resp = self
            .send_with(Method::GET, &path, bytes::Bytes::new(), &headers)
            .await?;
        if !resp.status().is_success() {
            return Err(Client::error_of(resp).await);
        }
        Ok(EventFeed {
            messages: Box::pin(BodyDataStream::new(resp.into_body()).eventsource()),
        })
    }
}

impl EventFeed {
    /// The next event; `Ok(None)` when the daemon closed the stream.
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            let Some(msg) = self.messages.next().await else {
                return Ok(None);
            };
            let msg = msg.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if msg.event == "error" {
                let err: ApiError = serde_json::from_str(&msg.data)
                    .map_err(|e| ClientError::Protocol(format!("bad error event: {e}")))?;
                return Err(ClientError::Api(err));
            }
            if msg.data.is_empty() {
                continue;
            }
            return serde_json::from_str(&msg.data)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("bad event from the daemon: {e}")));
        }
    }
}
