//! Each provider's discovery document and signing keys, fetched from its
//! issuer and kept in memory.
//!
//! Nothing here is shared between nodes: each node fetches for itself, which
//! keeps sign-in stateless apart from this cache (flows live in the
//! database). Metadata is refetched after an hour, and sooner when an ID
//! token names a key the cached set lacks (the provider rotated its keys),
//! at most once a minute per provider, so tokens naming made-up keys cannot
//! make Confer hammer the provider.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openidconnect::core::CoreProviderMetadata;
use openidconnect::{IssuerUrl, reqwest};

use super::refusal::Reason;
use crate::config::OidcProvider;
use crate::domain::clock::Millis;

/// A provider's discovery document with its JSON Web Key Set.
pub type Metadata = CoreProviderMetadata;

/// Metadata older than this is fetched again before use.
const REFRESH_AFTER_MS: Millis = 3_600_000;
/// A forced refresh (unknown key id) happens at most this often.
const MIN_REFRESH_INTERVAL_MS: Millis = 60_000;
/// How long one request to a provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Cached {
    metadata: Arc<Metadata>,
    fetched_at: Millis,
}

/// The HTTP client for talking to providers, and the metadata cache.
pub struct Providers {
    http: Result<reqwest::Client, String>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Default for Providers {
    fn default() -> Self {
        Self::new()
    }
}

impl Providers {
    pub fn new() -> Self {
        // Redirects off: a provider endpoint that redirects is refused rather
        // than followed somewhere nobody configured (and it keeps SSRF
        // through open redirects out).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .user_agent(concat!("Confer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string());
        if let Err(e) = &http {
            tracing::error!(error = %e, "cannot build the HTTP client for OpenID Connect providers");
        }
        Self {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client for requests to providers.
    pub fn http(&self) -> Result<&reqwest::Client, Reason> {
        self.http.as_ref().map_err(|_| Reason::ProviderUnavailable)
    }

    fn cached(&self, id: &str) -> Option<Cached> {
        self.cache.lock().ok()?.get(id).cloned()
    }

    fn store(&self, id: &str, entry: Cached) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id.to_string(), entry);
        }
    }

    /// The provider's metadata and keys: from the cache when under an hour
    /// old, else fetched from its issuer.
    pub async fn metadata(
        &self,
        provider: &OidcProvider,
        now: Millis,
    ) -> Result<Arc<Metadata>, Reason> {
        if let Some(c) = self.cached(&provider.id)
            && now.saturating_sub(c.fetched_at) < REFRESH_AFTER_MS
        {
            return Ok(c.metadata);
        }
        self.fetch(provider, now).await
    }

    /// Fetch again because an ID token named a key the cached set lacks.
    /// `None` when the cache was refreshed less than a minute ago: the key
    /// is then genuinely unknown.
    pub async fn refreshed_after_unknown_key(
        &self,
        provider: &OidcProvider,
        now: Millis,
    ) -> Result<Option<Arc<Metadata>>, Reason> {
        if let Some(c) = self.cached(&provider.id)
            && now.saturating_sub(c.fetched_at) < MIN_REFRESH_INTERVAL_MS
        {
            return Ok(None);
        }
        tracing::info!(provider = %provider.id, "refreshing the provider's keys: an ID token named a key Confer did not have");
        self.fetch(provider, now).await.map(Some)
    }

    async fn fetch(&self, provider: &OidcProvider, now: Millis) -> Result<Arc<Metadata>, Reason> {
        let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|_| {
            tracing::error!(provider = %provider.id, "the issuer is not a valid URL");
            Reason::ProviderMisconfigured
        })?;
        if !secure_or_loopback(issuer.url()) {
            tracing::error!(provider = %provider.id, issuer = %provider.issuer, "refusing an issuer that is neither https nor on loopback");
            return Err(Reason::ProviderMisconfigured);
        }
        let http = self.http()?;
        let metadata = Metadata::discover_async(issuer, http)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %provider.id, error = %error_chain(&e), "OpenID Connect discovery failed");
                Reason::ProviderUnavailable
            })?;
        let endpoints = [
            Some(metadata.authorization_endpoint().url()),
            metadata.token_endpoint().map(|u| u.url()),
            metadata.userinfo_endpoint().map(|u| u.url()),
            Some(metadata.jwks_uri().url()),
        ];
        if endpoints
            .into_iter()
            .flatten()
            .any(|u| !secure_or_loopback(u))
        {
            tracing::error!(provider = %provider.id, "the discovery document names an endpoint that is neither https nor on loopback");
            return Err(Reason::ProviderMisconfigured);
        }
        let metadata = Arc::new(metadata);
        self.store(
            &provider.id,
            Cached {
                metadata: metadata.clone(),
                fetched_at: now,
            },
        );
        Ok(metadata)
    }
}

/// TLS for every provider, except one on this machine (a development or
/// test provider on loopback).
fn secure_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// An error and its causes on one line, for logs. Provider errors carry
/// URLs and status codes, never tokens.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
