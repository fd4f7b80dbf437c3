//! The real `onboard up` binary in a fresh data directory, its address read from its banner
//! and its stderr kept in a file.

use crate::support::SECRET;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Onboard {
    child: Child,
    /// Where to connect (127.0.0.1 even when it listens on 0.0.0.0).
    pub addr: SocketAddr,
    /// The startup banner, up to the line naming the API.
    pub banner: String,
    pub data_dir: PathBuf,
    pub stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Onboard {
    /// `onboard up ARGS` with a data directory of its own and the tests' JWT secret.
    pub fn up(args: &[&str], env: &[(&str, &str)]) -> Onboard {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let stderr = tmp.path().join("stderr.log");
        // Only what the test gives: no database, broker or setting of scripts/test.sh.
        let mut child =
            onboard::testing::env::hermetic(&mut Command::new(env!("CARGO_BIN_EXE_onboard")))
                .arg("up")
                .args(args)
                .arg("--data-dir")
                .arg(&data_dir)
                .env("ONBOARD_JWT_SECRET", SECRET)
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&stderr).expect("stderr file"))
                .spawn()
                .expect("the binary starts");
        let mut banner = String::new();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut addr = None;
        // The banner names the API's address, then (last of what is read) the dev sign-in.
        while !banner.contains("Dev sign-in") {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!(
                    "onboard up ended before its banner: {banner}\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            };
            if let Some(url) = onboard::testing::env::listening_url(&line) {
                let listen: SocketAddr = url
                    .trim_start_matches("http://")
                    .parse()
                    .expect("the banner names the address");
                addr = Some(SocketAddr::from(([127, 0, 0, 1], listen.port())));
            }
            banner.push_str(&line);
            banner.push('\n');
        }
        let addr = addr.expect("the banner names the API");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Onboard {
            child,
            addr,
            banner,
            data_dir,
            stderr,
            _tmp: tmp,
        }
    }

    /// The child's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("onboard up never became ready");
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Onboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
