//! Builds the running service from [`Settings`]: keys, database (migrations, pool),
//! and a bound HTTP server. Tests start the very same `Application` on port 0.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::files::FileStore;
use crate::keys::KeyMaterial;
use crate::routes;

/// What every handler shares.
pub struct AppState {
    pub pool: DbPool,
    pub keys: KeyMaterial,
    pub max_body_bytes: usize,
    /// Sealed file objects (local directory or S3-compatible bucket).
    pub files: FileStore,
    /// Largest accepted file upload, in plaintext bytes.
    pub max_file_bytes: u64,
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Loads the keys, migrates the database and binds the listener. Fails (and
    /// serves nothing) when a key is missing or the database cannot be migrated.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let keys = KeyMaterial::load(&settings.keys_dir)?;
        db::run_migrations(&settings.database_url).context("preparing the database")?;
        let pool = db::pool(&settings.database_url, &settings.pool);
        let files = FileStore::open(&settings.files.location, &settings.data_dir)
            .context("opening the file store")?;
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            pool,
            keys,
            max_body_bytes: settings.max_body_bytes,
            files,
            max_file_bytes: settings.files.max_file_bytes,
        });
        let dev = settings.dev;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(|request, service| {
                    let started = Instant::now();
                    let method = request.method().clone();
                    let path = request.path().to_owned();
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
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
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
