//! The one way capsim builds an HTTP client (live servers, the Hugging Face Hub): reqwest over
//! rustls with the `ring` crypto provider, installed here once per process (installing it
//! again is a no-op). Assumes nothing about the peer; callers set timeouts and pooling.

/// A client builder with the crypto provider in place.
pub fn client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
