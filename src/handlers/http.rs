//! HTTP handlers: the call is POSTed as JSON, the reply body is the answer.

use std::error::Error as _;

use super::HandlerInput;
use super::output::{MAX_OUTPUT_BYTES, failure_outcome, map_http_reply};
use crate::catalog::HttpSpec;
use crate::protocol::ToolCallResult;

/// The client every http handler shares (connection reuse). Redirects are not followed:
/// a 302 or 303 would silently turn the POST into a GET without the call.
pub(super) fn build_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| error_chain(&error))
}

pub(super) async fn run(
    client: &Result<reqwest::Client, String>,
    spec: &HttpSpec,
    input: &HandlerInput,
) -> (ToolCallResult, Option<String>) {
    let tool = input.tool.as_str();
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            return failure_outcome(format!(
                "handler `{tool}` cannot run: the HTTP client could not be set up: {error}"
            ));
        }
    };
    let mut request = client.post(&spec.url).json(input).timeout(spec.timeout);
    for (name, value) in &spec.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let exchange = async {
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_OUTPUT_BYTES - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>((status, body, truncated))
    };
    // reqwest's own timeout covers the body too; this one also bounds anything it misses.
    match tokio::time::timeout(spec.timeout, exchange).await {
        Ok(Ok((status, body, truncated))) => map_http_reply(tool, status, &body, truncated),
        Ok(Err(error)) if error.is_timeout() => timed_out(tool, spec),
        Ok(Err(error)) if error.is_connect() => failure_outcome(format!(
            "could not reach handler `{tool}` at {}: {}",
            spec.url,
            error_chain(&error)
        )),
        Ok(Err(error)) => failure_outcome(format!(
            "request to handler `{tool}` at {} failed: {}",
            spec.url,
            error_chain(&error)
        )),
        Err(_) => timed_out(tool, spec),
    }
}

fn timed_out(tool: &str, spec: &HttpSpec) -> (ToolCallResult, Option<String>) {
    failure_outcome(format!(
        "handler `{tool}` timed out after {} ms ({})",
        spec.timeout.as_millis(),
        spec.url
    ))
}

/// reqwest's top-level message is generic ("error sending request"); the cause is below.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
