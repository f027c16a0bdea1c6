//! `model.hf = "org/name"`: a model's `config.json` from the Hugging Face Hub, kept in a cache
//! so a scenario resolves offline once it has been read. The Hub is `HF_ENDPOINT` (default
//! https://huggingface.co), with the `HF_TOKEN` bearer token for gated models; the file is the
//! Hub's `/{org}/{name}/resolve/main/config.json`. The cache is
//! `$CAPSIM_CACHE_DIR/hf/{org}/{name}/config.json` (`CAPSIM_CACHE_DIR` defaults to
//! `$XDG_CACHE_HOME/capsim` or `~/.cache/capsim`).

use crate::error::{InputError, InputResult};
use std::path::PathBuf;
use std::time::Duration;

fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("CAPSIM_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("capsim")
}

fn bad(problem: String) -> InputError {
    InputError::new("model.hf", problem)
}

/// Checks an id is `org/name` with the characters the Hub allows.
fn check_id(id: &str) -> InputResult<(&str, &str)> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.starts_with('.')
    };
    match id.split_once('/') {
        Some((org, name)) if ok(org) && ok(name) => Ok((org, name)),
        _ => Err(bad(format!(
            "'{id}' is not a Hugging Face model id (org/name, e.g. Qwen/Qwen2.5-14B-Instruct)"
        ))),
    }
}

/// The path of the cached `config.json` of `id`, fetched from the Hub first when not cached.
pub fn config_path(id: &str) -> InputResult<PathBuf> {
    let (org, name) = check_id(id)?;
    let path = cache_root()
        .join("hf")
        .join(org)
        .join(name)
        .join("config.json");
    if path.is_file() {
        return Ok(path);
    }
    let endpoint = std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".into());
    let url = format!(
        "{}/{org}/{name}/resolve/main/config.json",
        endpoint.trim_end_matches('/')
    );
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
    let text = fetch(&url, token.as_deref()).map_err(|problem| {
        bad(format!(
            "{id}: {problem} (and no cached copy at {})",
            path.display()
        ))
    })?;
    // Only a parseable config is cached.
    crate::model::ModelShape::from_config_json(name, &text).map_err(|e| {
        bad(format!(
            "{id}: {url} is not a usable config.json: {}",
            e.problem
        ))
    })?;
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir)
        .and_then(|_| {
            let tmp = dir.join(format!("config.json.tmp.{}", std::process::id()));
            std::fs::write(&tmp, &text)?;
            std::fs::rename(&tmp, &path)
        })
        .map_err(|e| bad(format!("cannot cache {}: {e}", path.display())))?;
    Ok(path)
}

/// GETs `url` (following redirects, 30 s at most) on a thread of its own, so it works whether
/// or not the caller is inside an async runtime.
fn fetch(url: &str, token: Option<&str>) -> Result<String, String> {
    let (url, token) = (url.to_string(), token.map(str::to_string));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let client = crate::http::client()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?;
            let mut req = client.get(&url);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("cannot reach {url}: {e}"))?;
            match resp.status().as_u16() {
                200 => resp.text().await.map_err(|e| e.to_string()),
                401 | 403 => Err(format!(
                    "{url} answered {}: a gated or private model needs HF_TOKEN",
                    resp.status()
                )),
                404 => Err(format!(
                    "{url} answered 404: no such model (or no config.json)"
                )),
                s => Err(format!("{url} answered HTTP {s}")),
            }
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the download thread panicked".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_org_slash_name() {
        assert!(check_id("Qwen/Qwen2.5-14B-Instruct").is_ok());
        for bad in ["Qwen2.5-14B", "a/b/c", "/x", "a/", "a/../b", "a b/c"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
