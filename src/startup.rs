//! Builds the running service from [`Settings`]: the vault (keys kept fresh from the
//! keys dir, databases migrated, the file store) and a bound HTTP server. Tests start
//! the very same `Application` on port 0.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::{PublicUrl, Settings};
use crate::keys::{KeyWatch, LiveKeys};
use crate::routes::{self, AppState};
use crate::vault::Vault;

/// After a drain timeout, how long responses still being sent (a large download, an
/// upload's cleanup) get before the process exits.
const LAST_WORDS: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    public_url: PublicUrl,
    server: Server,
    vault: Vault,
    /// Stops (and waits for) the interval key reload when the application goes.
    key_watch: KeyWatch,
}

impl Application {
    /// Loads the keys, migrates the database and binds the listener. Fails (and
    /// serves nothing) when a key is missing or the database cannot be migrated.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let vault = Vault::open(settings)?;
        let key_watch = vault.keys().watch(settings.key_reload_interval);
        reload_on_hangup(vault.keys());
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let address = listener.local_addr()?;
        let port = address.port();
        let public_url = match (&settings.public_url, settings.dev) {
            (Some(url), _) => url.clone(),
            (None, true) => PublicUrl::bound(address),
            (None, false) => anyhow::bail!(
                "--public-url (PIIVAULT_PUBLIC_URL) is required outside --dev: statement \
                 download links are built from it, never from request headers"
            ),
        };
        let draining = Arc::new(AtomicBool::new(false));
        let state = web::Data::new(AppState {
            vault: vault.clone(),
            max_body_bytes: settings.max_body_bytes,
            max_batch_body_bytes: settings.max_batch_body_bytes,
            body_timeout: settings.body_timeout,
            draining: Arc::clone(&draining),
            public_url: public_url.clone(),
        });
        let dev = settings.dev;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                // Innermost first: the outer layers see (and log) what it refuses.
                .wrap_fn(routes::refuse_content_coding)
                .wrap_fn(routes::settle_quota)
                .wrap_fn(routes::request_id::tag)
                .wrap_fn(routes::observe::request)
                .configure(|config| routes::configure(config, dev))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?;
        let workers = settings.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        server = server
            .workers(workers)
            .worker_max_blocking_threads(settings.blocking_threads.div_ceil(workers).max(1))
            // SIGTERM and SIGINT are ours (`drain_on_terminate`): readiness goes first.
            .disable_signals()
            .shutdown_timeout(LAST_WORDS.as_secs());
        let server = server.run();
        drain_on_terminate(&server.handle(), &vault, draining, settings.drain_timeout);
        Ok(Self {
            port,
            public_url,
            server,
            vault,
            key_watch,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where clients reach this instance: what its links are built from.
    pub fn public_url(&self) -> &PublicUrl {
        &self.public_url
    }

    /// The vault the server serves (the command line's operations run on it too).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopped = self.server.await;
        drop(self.key_watch);
        stopped
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

/// SIGTERM (or SIGINT) drains the instance. At once `/readyz` turns 503, so a load
/// balancer stops sending requests, while everything else is still served (new
/// connections included: the balancer may not have noticed yet). After
/// `--drain-timeout` the listener closes, so new connections are refused; uploads
/// still streaming are cut off cleanly (503, no object, no row), and any other
/// response still being sent gets [`LAST_WORDS`] before the process exits. Needs the
/// actix system `build` runs in, as SIGHUP does.
fn drain_on_terminate(
    server: &ServerHandle,
    vault: &Vault,
    draining: Arc<AtomicBool>,
    drain_timeout: Duration,
) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    if tokio_runtime_missing() {
        return;
    }
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("could not listen for SIGTERM/SIGINT; a signal stops the process at once");
        return;
    };
    let (server, vault) = (server.clone(), vault.clone());
    actix_web::rt::spawn(async move {
        let signal = match futures_util::future::select(
            Box::pin(terminate.recv()),
            Box::pin(interrupt.recv()),
        )
        .await
        {
            futures_util::future::Either::Left(_) => "SIGTERM",
            futures_util::future::Either::Right(_) => "SIGINT",
        };
        draining.store(true, Ordering::SeqCst);
        tracing::info!(
            signal,
            drain_secs = drain_timeout.as_secs(),
            "draining: /readyz answers 503; still serving until the drain timeout"
        );
        actix_web::rt::time::sleep(drain_timeout).await;
        tracing::info!("drain timeout over: refusing new connections, cutting off uploads");
        vault.cut_off_uploads();
        server.stop(true).await;
        tracing::info!("stopped");
    });
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
