//! Headless Chromium driven through the DevTools protocol over a pipe
//! (`--remote-debugging-pipe`: JSON messages separated by NUL bytes on file descriptors 3,
//! which the browser reads, and 4, which it writes), so no WebSocket client is needed.
//! A browser that cannot start (not installed) fails the test with the reason.
//!
//! The browser is Debian's `chromium` (`.ci/run` and `scripts/test` install it when
//! missing); `CHROMIUM` names another binary. Used by `machina bench explorer` and by the
//! explorer's browser tests (which include this file).

use base64::Engine as _;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, RecvTimeoutError, Sender, channel},
    },
    time::{Duration, Instant},
};

/// How long one protocol command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The browser binary.
pub fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A headless browser with one page.
pub struct Browser {
    child: Child,
    to_browser: std::process::ChildStdin,
    replies: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Console errors, uncaught exceptions and failed loads seen since the last
    /// [`Browser::take_errors`].
    errors: Arc<Mutex<Vec<String>>>,
    /// The browser's fresh profile directory, removed on drop.
    profile: std::path::PathBuf,
}

/// Reads the browser's messages: replies go to `replies`, errors the page reports to
/// `errors`.
fn read_messages(
    from: impl std::io::Read,
    replies: Sender<Value>,
    errors: Arc<Mutex<Vec<String>>>,
) {
    let mut reader = BufReader::new(from);
    let mut message = Vec::new();
    loop {
        message.clear();
        match reader.read_until(0, &mut message) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        message.pop();
        let Ok(value) = serde_json::from_slice::<Value>(&message) else { continue };
        let error = match value["method"].as_str() {
            Some("Runtime.consoleAPICalled") if value["params"]["type"] == "error" => {
                Some(format!("console.error: {}", value["params"]["args"]))
            }
            Some("Runtime.exceptionThrown") => {
                Some(format!("exception: {}", value["params"]["exceptionDetails"]))
            }
            Some("Log.entryAdded") if value["params"]["entry"]["level"] == "error" => {
                Some(format!("log: {}", value["params"]["entry"]))
            }
            _ => None,
        };
        if let Some(error) = error {
            errors.lock().unwrap().push(error);
        }
        if value.get("id").is_some() && replies.send(value).is_err() {
            return;
        }
    }
}

impl Browser {
    /// Starts headless Chromium with a fresh profile and a `width` x `height` page.
    pub fn start(width: u32, height: u32) -> std::io::Result<Self> {
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("machina-browser-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&profile)?;
        // The shell hands the browser our pipes as descriptors 3 (its input) and 4 (its
        // output), the protocol's pipe transport, then execs it.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null 2>/dev/null"#)
            .arg(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                &format!("--window-size={width},{height}"),
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let to_browser = child.stdin.take().unwrap();
        let we_read = child.stdout.take().unwrap();
        let (replies_in, replies) = channel();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        std::thread::spawn(move || read_messages(we_read, replies_in, sink));
        let mut browser = Self {
            child,
            to_browser,
            replies,
            next_id: 0,
            session: String::new(),
            errors,
            profile,
        };
        let targets = browser.command("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .map(|t| t["targetId"].clone())
            .expect("a page target");
        let attached =
            browser.command("Target.attachToTarget", json!({ "targetId": page, "flatten": true }));
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.command(domain, json!({}));
        }
        let metrics =
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        browser.command("Emulation.setDeviceMetricsOverride", metrics);
        Ok(browser)
    }

    /// Sends a protocol command (to the page once attached) and waits for its result.
    pub fn command(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("write to the browser");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) if reply["id"] == id => {
                    assert!(reply.get("error").is_none(), "{method}: {}", reply["error"]);
                    return reply["result"].clone();
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("{method}: no answer in time"),
                Err(RecvTimeoutError::Disconnected) => panic!("{method}: the browser exited"),
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let params =
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let result = self.command("Runtime.evaluate", params);
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; panics with `what` after `timeout`.
    pub fn wait(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let value = self.eval(expression);
            if !(value.is_null()
                || value == json!(false)
                || value == json!("")
                || value == json!(0))
            {
                return value;
            }
            assert!(start.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Loads `url` as a new document (from a blank page, so a change of fragment alone
    /// still loads the page afresh).
    pub fn open(&mut self, url: &str) {
        self.command("Page.navigate", json!({ "url": "about:blank" }));
        self.wait("the blank page", "location.href === 'about:blank'", Duration::from_secs(30));
        self.command("Page.navigate", json!({ "url": url }));
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.command("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// The errors the page reported since the last call.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut *self.errors.lock().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
