//! Builds the running service from [`Settings`]: the vault (keys kept fresh from the
//! keys dir, databases migrated, the file store) and a bound HTTP server. Tests start
//! the very same `Application` on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::Settings;
use crate::keys::LiveKeys;
use crate::routes::{self, AppState};
use crate::vault::Vault;

pub struct Application {
    port: u16,
    server: Server,
    vault: Vault,
}

impl Application {
    /// Loads the keys, migrates the database and binds the listener. Fails (and
    /// serves nothing) when a key is missing or the database cannot be migrated.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let vault = Vault::open(settings)?;
        vault.keys().watch(settings.key_reload_interval);
        reload_on_hangup(vault.keys());
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            vault: vault.clone(),
            max_body_bytes: settings.max_body_bytes,
            max_batch_body_bytes: settings.max_batch_body_bytes,
            body_timeout: settings.body_timeout,
        });
        let dev = settings.dev;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(routes::request_id::tag)
                .wrap_fn(|request, service| {
                    let started = Instant::now();
                    let method = request.method().clone();
                    // The route's pattern, not the path: paths carry ids and download
                    // tokens, which have no place in a log.
                    let path = request
                        .match_pattern()
                        .unwrap_or_else(|| "(unmatched)".to_owned());
                    let response = service.call(request);
                    async move {
                        let response = response.await?;
                        tracing::info!(
                            %method,
                            %path,
                            status = response.status().as_u16(),
                            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                            "request"
                        );
                        Ok(response)
                    }
                })
                .configure(|config| routes::configure(config, dev))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?;
        let workers = settings.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        server = server
            .workers(workers)
            .worker_max_blocking_threads(settings.blocking_threads.div_ceil(workers).max(1));
        Ok(Self {
            port,
            server: server.run(),
            vault,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The vault the server serves (the command line's operations run on it too).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Builds the application and serves until it is stopped, on an actix system of its
/// own on this thread; `started` runs once it listens (to print where, say).
pub fn serve(
    settings: &Settings,
    started: impl FnOnce(&Application) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings)?;
        started(&application)?;
        application.run_until_stopped().await?;
        Ok(())
    })
}

/// SIGHUP reloads the keys at once (operators expect it of a daemon). Needs the
/// actix system `build` runs in; without one (or a signal handler) the interval
/// reload still works.
fn reload_on_hangup(keys: &Arc<LiveKeys>) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    if tokio_runtime_missing() {
        return;
    }
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("could not listen for SIGHUP; keys reload on their interval only");
        return;
    };
    let keys = Arc::downgrade(keys);
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(keys) = keys.upgrade() else {
                return;
            };
            tracing::info!("SIGHUP: reloading keys");
            drop(web::block(move || keys.reload_logged()).await);
        }
    });
}

fn tokio_runtime_missing() -> bool {
    actix_web::rt::System::try_current().is_none()
}
