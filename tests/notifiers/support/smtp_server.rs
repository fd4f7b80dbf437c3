//! A real SMTP server for the tests: `smtp_server.py` (aiosmtpd) in a child process, whose
//! received messages are read back from its spool folder.

use onboard::adapters::maildir::{parse_message, StoredMail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How the server protects connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTls {
    None,
    StartTls,
    Tls,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// 0 for any free port.
    pub port: u16,
    pub tls: ServerTls,
    /// Certificate and key files (PEM) for TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Required login and password.
    pub credentials: Option<(String, String)>,
    /// Mechanisms the server does not offer (`PLAIN`, `LOGIN`).
    pub exclude_mechanisms: Vec<String>,
    /// Recipients containing this text are refused with 550.
    pub reject_rcpt: Option<String>,
    /// Every message is refused with 451.
    pub tempfail: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            port: 0,
            tls: ServerTls::None,
            identity: None,
            credentials: None,
            exclude_mechanisms: Vec::new(),
            reject_rcpt: None,
            tempfail: false,
        }
    }
}

/// One received message: what was on the wire after DATA, and its envelope.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail: StoredMail,
    pub raw: Vec<u8>,
    pub rcpt_tos: Vec<String>,
    pub mail_from: String,
    pub login: Option<String>,
    pub tls: bool,
}

pub struct SmtpServer {
    pub port: u16,
    spool: tempfile::TempDir,
    _child: Child,
}

/// The Python with aiosmtpd: `ONBOARD_TEST_PYTHON`, or the venv `scripts/test.sh` prepares.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("ONBOARD_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python3");
    assert!(
        venv.exists(),
        "no Python with aiosmtpd at {}: run scripts/test-deps.sh (scripts/test.sh does) or set ONBOARD_TEST_PYTHON",
        venv.display()
    );
    venv
}

impl SmtpServer {
    pub async fn start(options: ServerOptions) -> Self {
        let spool = tempfile::tempdir().expect("a spool folder");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notifiers/smtp_server.py");
        let mut command = Command::new(python());
        command
            .arg(script)
            .arg("--port")
            .arg(options.port.to_string())
            .arg("--spool")
            .arg(spool.path())
            .arg("--tls")
            .arg(match options.tls {
                ServerTls::None => "none",
                ServerTls::StartTls => "starttls",
                ServerTls::Tls => "tls",
            });
        if let Some((cert, key)) = &options.identity {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &options.credentials {
            // A throwaway test password; real ones never go on a command line.
            command.args(["--user", user, "--password", password]);
        }
        for mechanism in &options.exclude_mechanisms {
            command.args(["--exclude-mechanism", mechanism]);
        }
        if let Some(reject) = &options.reject_rcpt {
            command.args(["--reject-rcpt", reject]);
        }
        if options.tempfail {
            command.arg("--tempfail");
        }
        let log = std::fs::File::create(spool.path().join("server.log")).expect("a log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP test server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the SMTP test server reports its port in time")
            .expect("the SMTP test server's stdout is readable");
        let Some(port) = line
            .as_deref()
            .and_then(|l| l.strip_prefix("LISTENING "))
            .and_then(|p| p.trim().parse().ok())
        else {
            let log = std::fs::read_to_string(spool.path().join("server.log")).unwrap_or_default();
            panic!("the SMTP test server did not start ({line:?}):\n{log}");
        };
        Self {
            port,
            spool,
            _child: child,
        }
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.spool.path())
            .expect("the spool is readable")
            .map(|e| e.expect("a spool entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let raw = std::fs::read(&eml).expect("a message file");
                let meta: Value = serde_json::from_slice(
                    &std::fs::read(eml.with_extension("json")).expect("its envelope file"),
                )
                .expect("envelope JSON");
                ReceivedMail {
                    mail: parse_message(&raw),
                    raw,
                    rcpt_tos: meta["rcptTos"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    mail_from: meta["mailFrom"].as_str().unwrap_or_default().to_owned(),
                    login: meta["login"].as_str().map(str::to_owned),
                    tls: meta["tls"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// Waits until at least `count` messages arrived (or 20 s passed), then a little longer so
    /// that an "exactly" assertion would see a late duplicate.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        for _ in 0..400 {
            if self.messages().len() >= count {
                tokio::time::sleep(Duration::from_millis(300)).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.messages()
    }
}
