//! Independent PDF readers for the tests: qpdf, poppler's pdftotext and mupdf's
//! mutool, installed by scripts/install-test-deps (a missing one fails the test,
//! never skips).

use std::process::Command;

fn tool(name: &str) -> Command {
    assert!(
        Command::new(name).arg("--version").output().is_ok(),
        "`{name}` is missing: install qpdf, poppler-utils and mupdf-tools (scripts/install-test-deps)"
    );
    Command::new(name)
}

/// A PDF written to a temporary file for the tools (removed when dropped).
pub struct PdfFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl PdfFile {
    pub fn new(pdf: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("document.pdf");
        std::fs::write(&path, pdf).unwrap();
        Self { _dir: dir, path }
    }

    /// Asserts qpdf sees AES-256, security handler revision 6, when opened with `password`.
    pub fn assert_aes256_r6(&self, password: &str) {
        let output = tool("qpdf")
            .arg("--show-encryption")
            .arg(format!("--password={password}"))
            .arg(&self.path)
            .output()
            .unwrap();
        let encryption = String::from_utf8_lossy(&output.stdout);
        assert!(encryption.contains("R = 6"), "qpdf: {encryption}");
        assert!(encryption.contains("AESv3"), "qpdf: {encryption}");
    }

    /// Whether qpdf's structural check passes with `password` (a wrong one must fail).
    pub fn qpdf_checks_with(&self, password: &str) -> bool {
        tool("qpdf")
            .arg(format!("--password={password}"))
            .arg("--check")
            .arg(&self.path)
            .output()
            .unwrap()
            .status
            .success()
    }

    /// qpdf's structural check with `password`: passes, or what qpdf said.
    pub fn assert_qpdf_check(&self, password: &str) {
        let output = tool("qpdf")
            .arg(format!("--password={password}"))
            .arg("--check")
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "qpdf --check: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Whether mupdf renders every page's text with `password` (a wrong one fails).
    pub fn mutool_opens_with(&self, password: &str) -> bool {
        tool("mutool")
            .args(["draw", "-q", "-F", "txt", "-o", "/dev/null", "-p", password])
            .arg(&self.path)
            .output()
            .unwrap()
            .status
            .success()
    }

    /// The text in content order (`-raw`): a wrapped value's lines follow each other.
    pub fn raw_text(&self, password: &str) -> Option<String> {
        let output = tool("pdftotext")
            .args(["-raw", "-upw", password])
            .arg(&self.path)
            .arg("-")
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Whether libpoppler opens it with exactly these password bytes
    /// (`tests/tools/poppler_open.py`; poppler's command-line tools keep only 32 bytes
    /// of a password, and Debian 12's libpoppler aborts when handed more than 127).
    pub fn poppler_opens(&self, password: &[u8]) -> bool {
        use std::io::Write as _;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/poppler_open.py");
        let mut child = tool("python3")
            .arg(script)
            .arg(&self.path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password).unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.code().is_some(),
            "libpoppler died (is libpoppler-glib8 installed? scripts/install-test-deps)"
        );
        status.success()
    }

    /// The text (`-layout`) when pdftotext opens it with `password`, else `None`.
    pub fn text(&self, password: &str) -> Option<String> {
        let output = tool("pdftotext")
            .args(["-layout", "-upw", password])
            .arg(&self.path)
            .arg("-")
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The text of a PDF opened with `password`, or `None` when it does not open.
pub fn pdf_text(pdf: &[u8], password: &str) -> Option<String> {
    PdfFile::new(pdf).text(password)
}
