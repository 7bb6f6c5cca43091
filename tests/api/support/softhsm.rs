//! A throw-away SoftHSM2 token for this test run: a private `SOFTHSM2_CONF` and token
//! directory under a temporary directory (removed once the test process is gone),
//! one token initialised with `softhsm2-util`, and its user PIN in
//! `PIIVAULT_PKCS11_PIN`. Test servers share the token; each uses its own object
//! label prefix, so their master key versions never meet. A missing SoftHSM2 is a
//! test failure, never a skip (`scripts/install-test-deps` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use piivault::config::{MasterKeyProvider, MasterKeySettings, Pkcs11Settings};
use piivault::keys::token::PIN_ENV;
use uuid::Uuid;

pub const TOKEN_LABEL: &str = "piivault-test";
pub const PIN: &str = "4711-test-pin";
const SO_PIN: &str = "4712-test-so-pin";

/// Where Debian's `softhsm2` package puts the module.
const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

pub struct SoftHsm {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub module: PathBuf,
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
        let output = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN_LABEL])
            .args(["--so-pin", SO_PIN, "--pin", PIN])
            .output()
            .expect("SoftHSM2 is required for the tests: `softhsm2-util` was not found (run scripts/install-test-deps)");
        assert!(
            output.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir, conf, module }
    }

    /// The token's objects as `pkcs11-tool` (OpenSC, an independent PKCS#11 client)
    /// lists them, logged in as the user.
    pub fn list_objects(&self) -> String {
        pkcs11_tool(&self.module, &["--login", "--pin", PIN, "--list-objects"])
    }
}

fn pkcs11_tool(module: &Path, args: &[&str]) -> String {
    let output = Command::new("pkcs11-tool")
        .arg("--module")
        .arg(module)
        .args(["--token-label", TOKEN_LABEL])
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
