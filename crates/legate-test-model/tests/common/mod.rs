//! What the route tests share: posting a JSON body to a real server, and reading a
//! server-sent events answer.

use legate_test_model::ModelServer;
use serde_json::Value;

/// POSTs `body` as JSON to `path` (e.g. `/v1/messages`) of `server`.
pub async fn post(server: &ModelServer, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}{path}", server.addr()))
        .json(body)
        .send()
        .await
        .expect("request")
}

/// The (event name, data) pairs of a server-sent events body.
pub fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let name = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap();
            let data = frame
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            (name.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}
