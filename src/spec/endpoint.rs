//! `[endpoint]`: how a spot run talks to a live server (API, model name, extra body fields,
//! warm-up, shared prefix).

use super::file::EndpointSection;
use super::{toml_to_json, Api, EndpointSpec};
use crate::error::{InputError, InputResult};

pub(super) fn resolve_endpoint(e: &EndpointSection) -> InputResult<EndpointSpec> {
    let api = e.api.unwrap_or(Api::Completions);
    let extra = match &e.extra {
        None => serde_json::Map::new(),
        Some(t) => match toml_to_json(&toml::Value::Table(t.clone())) {
            serde_json::Value::Object(m) => m,
            _ => {
                return Err(InputError::new(
                    "endpoint.extra",
                    "must be a table of JSON fields",
                ))
            }
        },
    };
    for reserved in ["prompt", "messages", "stream", "max_tokens"] {
        if extra.contains_key(reserved) {
            return Err(InputError::new(
                format!("endpoint.extra.{reserved}"),
                "is set by capsim from the workload; remove it",
            ));
        }
    }
    Ok(EndpointSpec {
        api,
        model: e.model.clone(),
        extra,
        ignore_eos: e.ignore_eos.unwrap_or(true),
        warmup_requests: e.warmup_requests.unwrap_or(1),
        shared_prefix_tokens: e.shared_prefix_tokens.unwrap_or(0),
    })
}
