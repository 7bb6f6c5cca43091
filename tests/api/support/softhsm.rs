//! A throw-away SoftHSM2 token for this test run: a private `SOFTHSM2_CONF` and token
//! directory under a temporary directory (removed once the test process is gone),
//! tokens initialised with `softhsm2-util`, and their user PIN in
//! `PIIVAULT_PKCS11_PIN`. Test servers share one token; each uses its own object
//! label prefix, so their master key versions never meet. Two more tokens serve the
//! outage test and the wrong-PIN case, whose changes the shared token need not see. A missing SoftHSM2 is a
//! test failure, never a skip (`scripts/install-test-deps` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use piivault::config::{MasterKeyProvider, MasterKeySettings, Pkcs11Settings};
use piivault::keys::token::PIN_ENV;
use uuid::Uuid;

pub const TOKEN_LABEL: &str = "piivault-test";
/// A second token, for the test that takes a token away while serving.
pub const OUTAGE_TOKEN_LABEL: &str = "piivault-outage";
/// A third token, for wrong PINs: a failed login writes the token's state, which the
/// other tests' token need not see.
pub const PIN_TOKEN_LABEL: &str = "piivault-pins";
pub const PIN: &str = "4711-test-pin";
const SO_PIN: &str = "4712-test-so-pin";

/// Where Debian's `softhsm2` package puts the module.
const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

pub struct SoftHsm {
    pub module: PathBuf,
    /// Where the outage token's objects are (a directory of the token dir).
    pub outage_token_dir: PathBuf,
}

static TOKEN: OnceLock<SoftHsm> = OnceLock::new();

/// The test run's token, initialised on first use.
pub fn token() -> &'static SoftHsm {
    TOKEN.get_or_init(SoftHsm::initialise)
}

/// Master key settings for a test server whose keys live in the token, under a
/// label prefix of its own.
pub fn master_key_settings() -> MasterKeySettings {
    let token = token();
    MasterKeySettings {
        provider: MasterKeyProvider::Pkcs11,
        pkcs11: Some(Pkcs11Settings {
            module: token.module.clone(),
            token_label: TOKEN_LABEL.to_owned(),
            label_prefix: format!("t{}", Uuid::new_v4().simple()),
        }),
    }
}

impl SoftHsm {
    fn initialise() -> Self {
        let module = MODULES
            .iter()
            .map(PathBuf::from)
            .find(|path| path.exists())
            .expect("SoftHSM2 is required for the tests: no libsofthsm2.so (run scripts/install-test-deps)");
        let dir = tempfile::Builder::new()
            .prefix("piivault-softhsm-")
            .tempdir()
            .unwrap()
            .keep();
        super::remove_after_this_process(&dir);
        let tokens = dir.join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // The module reads its configuration from the environment when it is first
        // initialised, in this process and in every `piivault` the tests run; nothing
        // else in the test process sets a variable, and this runs once, before any
        // PKCS#11 call.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(PIN_ENV, PIN);
        // Both tokens exist before this process first initialises the module (the
        // module lists its tokens then).
        init_token(TOKEN_LABEL);
        init_token(PIN_TOKEN_LABEL);
        let before = token_dirs(&tokens);
        init_token(OUTAGE_TOKEN_LABEL);
        let outage_token_dir = token_dirs(&tokens)
            .into_iter()
            .find(|dir| !before.contains(dir))
            .expect("the outage token has a directory");
        Self {
            module,
            outage_token_dir,
        }
    }

    /// The token's objects as `pkcs11-tool` (OpenSC, an independent PKCS#11 client)
    /// lists them, logged in as the user.
    pub fn list_objects(&self) -> String {
        pkcs11_tool(&self.module, &["--login", "--pin", PIN, "--list-objects"])
    }
}

fn init_token(label: &str) {
    let output = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--so-pin", SO_PIN, "--pin", PIN])
        .output()
        .expect("SoftHSM2 is required for the tests: `softhsm2-util` was not found (run scripts/install-test-deps)");
    assert!(
        output.status.success(),
        "softhsm2-util --init-token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn token_dirs(tokens: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tokens)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

impl SoftHsm {
    /// The files of the outage token's objects (not of the token itself).
    pub fn key_object_files(&self) -> Vec<PathBuf> {
        token_dirs(&self.outage_token_dir)
            .into_iter()
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "object")
                    && path.file_name().is_some_and(|name| name != "token.object")
            })
            .collect()
    }

    /// Writes and deletes a data object in the outage token from another process,
    /// so that this process's module notices the token changed and reads its
    /// objects again (SoftHSM2 does so when the token's generation moves).
    pub fn touch_outage_token(&self) {
        let scratch = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(scratch.path(), b"touch").unwrap();
        let login = ["--login", "--pin", PIN];
        let path = scratch.path().to_str().unwrap();
        pkcs11_tool_on(
            &self.module,
            OUTAGE_TOKEN_LABEL,
            &[
                &login[..],
                &["--write-object", path, "--type", "data", "--label", "touch"],
            ]
            .concat(),
        );
        pkcs11_tool_on(
            &self.module,
            OUTAGE_TOKEN_LABEL,
            &[
                &login[..],
                &["--delete-object", "--type", "data", "--label", "touch"],
            ]
            .concat(),
        );
    }
}

fn pkcs11_tool(module: &Path, args: &[&str]) -> String {
    pkcs11_tool_on(module, TOKEN_LABEL, args)
}

fn pkcs11_tool_on(module: &Path, label: &str, args: &[&str]) -> String {
    let output = Command::new("pkcs11-tool")
        .arg("--module")
        .arg(module)
        .args(["--token-label", label])
        .args(args)
        .output()
        .expect("OpenSC's pkcs11-tool is required for the tests (run scripts/install-test-deps)");
    assert!(
        output.status.success(),
        "pkcs11-tool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
