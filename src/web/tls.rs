//! Optional TLS (rustls, ring provider) with the certificate reloaded when its files change.
//!
//! warp 0.4 has no TLS of its own, so the accept loop (`server.rs`) wraps each TCP stream with
//! tokio-rustls. The server config asks a [`Reloadable`] resolver for the certificate on every
//! handshake; a watcher task swaps the resolver's certificate when the PEM files change (inotify
//! on their directories as a hint, a re-read every few seconds as the truth, like the tailer).
//! A pair that does not load (a half-written file, a key that does not match the certificate yet)
//! keeps the old certificate in service and is tried again at the next change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;
use crate::shutdown::Shutdown;

/// How often the certificate files are re-read even without a file-system event.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Pause after a file-system event before re-reading, so a writer can finish both files.
const SETTLE: Duration = Duration::from_millis(100);

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate (BEGIN CERTIFICATE)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("the key in {} does not belong to the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Setup(rustls::Error),
}

impl TlsError {
    /// The config key the problem is about (`server.tls.cert` or `server.tls.key`).
    pub fn config_key(&self) -> &'static str {
        match self {
            TlsError::Read { key, .. } => key,
            TlsError::NoCertificate { .. } | TlsError::Setup(_) => "server.tls.cert",
            TlsError::BadKey { .. } | TlsError::Mismatch { .. } => "server.tls.key",
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The file contents a certificate was built from (to tell whether a re-read changed anything).
type Pem = (Vec<u8>, Vec<u8>);

fn read(settings: &TlsSettings) -> Result<Pem, TlsError> {
    let read = |key, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((
        read("server.tls.cert", &settings.cert)?,
        read("server.tls.key", &settings.key)?,
    ))
}

fn build(settings: &TlsSettings, (cert, key): &Pem) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: settings.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::BadKey {
        path: settings.key.clone(),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            reason: e.to_string(),
        },
        other => TlsError::BadKey {
            path: settings.key.clone(),
            reason: other.to_string(),
        },
    })?;
    Ok(Arc::new(certified))
}

/// Loads and checks the pair once (what `socwall check` does).
pub fn check(settings: &TlsSettings) -> Result<(), TlsError> {
    build(settings, &read(settings)?).map(|_| ())
}

/// Hands rustls whatever certificate is current.
#[derive(Debug)]
pub struct Reloadable {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// A loaded TLS setup: the acceptor for the accept loop and what the reloader needs.
pub struct Tls {
    settings: TlsSettings,
    resolver: Arc<Reloadable>,
    loaded: Pem,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads the certificate and key; an error here stops start-up.
    pub fn load(settings: &TlsSettings) -> Result<Tls, TlsError> {
        let pem = read(settings)?;
        let resolver = Arc::new(Reloadable {
            current: RwLock::new(build(settings, &pem)?),
        });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // HTTP/1.1 only: WebSockets are upgraded from HTTP/1.1 (no RFC 8441 here).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            settings: settings.clone(),
            resolver,
            loaded: pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// Watches the files until shutdown and swaps the certificate when they change.
    pub fn spawn_reloader(self, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let (hint_tx, mut hints) = mpsc::channel::<()>(1);
        let watcher = watch_dirs(&self.settings, hint_tx);
        tokio::spawn(async move {
            let _watcher = watcher; // dropped (unwatched) when the task ends
            let mut loaded = self.loaded;
            let mut recheck = tokio::time::interval(RECHECK_INTERVAL);
            recheck.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = recheck.tick() => {}
                    Some(()) = hints.recv() => tokio::time::sleep(SETTLE).await,
                }
                let settings = self.settings.clone();
                let read = tokio::task::spawn_blocking(move || read(&settings)).await;
                let pem = match read {
                    Ok(Ok(pem)) if pem != loaded => pem,
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                        continue;
                    }
                    Err(_) => continue,
                };
                match build(&self.settings, &pem) {
                    Ok(key) => {
                        *self
                            .resolver
                            .current
                            .write()
                            .unwrap_or_else(|e| e.into_inner()) = key;
                        loaded = pem;
                        tracing::info!(cert = %self.settings.cert.display(), "TLS certificate reloaded");
                    }
                    // Often a pair caught half-way through being replaced: the next change retries.
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate not reloaded; the previous one stays in use")
                    }
                }
            }
        })
    }
}

/// inotify on the files' directories (renames and symlink swaps replace the files themselves).
/// Without it the periodic re-read still catches every change.
fn watch_dirs(
    settings: &TlsSettings,
    hint: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let names: Vec<PathBuf> = [&settings.cert, &settings.key]
        .into_iter()
        .filter_map(|p| p.file_name().map(PathBuf::from))
        .collect();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let relevant = match ev {
            // Kubernetes-style secret volumes swap a `..data` symlink, not the files: any change
            // in the directory that is not plainly about another file counts.
            Ok(ev) => {
                ev.paths.is_empty()
                    || ev.paths.iter().any(|p| {
                        p.file_name().is_some_and(|n| {
                            names.iter().any(|w| w.as_os_str() == n)
                                || n.to_string_lossy().starts_with("..")
                        })
                    })
            }
            Err(_) => true,
        };
        if relevant {
            let _ = hint.try_send(());
        }
    })
    .map_err(
        |e| tracing::warn!(error = %e, "cannot watch the TLS files; re-reading them every 5 s"),
    )
    .ok()?;
    let mut dirs: Vec<PathBuf> = [&settings.cert, &settings.key]
        .into_iter()
        .map(|p| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = watcher.watch(&d, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %d.display(), error = %e, "cannot watch for TLS file changes; re-reading them every 5 s");
        }
    }
    Some(watcher)
}
