//! Builds the running service from [`Settings`]: keys (kept fresh from the keys dir),
//! databases (migrations, pools), and a bound HTTP server. Tests start the very same
//! `Application` on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::files::FileStore;
use crate::keys::LiveKeys;
use crate::keystore::DataKeyStore;
use crate::routes;

/// What every handler shares.
pub struct AppState {
    pub pool: DbPool,
    /// Where wrapped data keys live (the main database unless `--keystore-url`).
    pub data_keys: DataKeyStore,
    /// The keys as of the last reload; take `keys.current()` once per request.
    pub keys: Arc<LiveKeys>,
    pub max_body_bytes: usize,
    /// Body limit for transaction batches (up to 1,000 in one JWE).
    pub max_batch_body_bytes: usize,
    /// How long a statement download link works.
    pub statement_link_ttl: chrono::Duration,
    /// Sealed file objects (local directory or S3-compatible bucket).
    pub files: FileStore,
    /// Largest accepted file upload, in plaintext bytes.
    pub max_file_bytes: u64,
    /// How long a request body may take (JSON and JWE bodies: all of it; file uploads:
    /// any pause between chunks).
    pub body_timeout: std::time::Duration,
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Loads the keys, migrates the database and binds the listener. Fails (and
    /// serves nothing) when a key is missing or the database cannot be migrated.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let keys = Arc::new(LiveKeys::load(&settings.keys_dir)?);
        keys.watch(settings.key_reload_interval);
        reload_on_hangup(&keys);
        db::run_migrations(&settings.database_url).context("preparing the database")?;
        let pool = db::pool(&settings.database_url, &settings.pool);
        let data_keys = DataKeyStore::open(settings)?;
        let files = FileStore::open(&settings.files.location, &settings.data_dir)
            .context("opening the file store")?;
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            pool,
            data_keys,
            keys,
            max_body_bytes: settings.max_body_bytes,
            max_batch_body_bytes: settings.max_batch_body_bytes,
            statement_link_ttl: chrono::Duration::from_std(settings.statement_link_ttl)
                .context("the statement link lifetime is out of range")?,
            files,
            max_file_bytes: settings.files.max_file_bytes,
            body_timeout: settings.body_timeout,
        });
        let dev = settings.dev;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(crate::request_id::tag)
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
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
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
