//! A headless Chromium driven over the DevTools protocol: a websocket to the browser, one
//! page attached in flat session mode, its console messages, exceptions and network
//! failures recorded. Enough to load a page, wait for a condition, read the DOM, resize the
//! viewport and take a screenshot; the browser is killed and its profile removed on drop.

#![allow(dead_code)] // the browser tests and the page bench each use their own subset

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Something the page did that a test may check: a console error, an uncaught exception, a
/// request that failed or was answered 4xx/5xx.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: &'static str,
    pub text: String,
}

pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    pub problems: Vec<Problem>,
    /// Bytes received for each response, by request id (encoded, as on the wire).
    pub transferred: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Launches `chromium` headless with a viewport of `width` × `height` CSS pixels.
    pub fn launch(width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    if !sent {
                        let _ = tx.send(url.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium says where DevTools listens");
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap()
            .to_owned();
        let stream = TcpStream::connect(&authority).unwrap();
        // The handshake waits as long as a busy machine needs (with the pumping timeout below
        // it failed as `Interrupted` under a concurrent build); then reads poll every 200 ms.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (socket, _) = tungstenite::client(url.as_str(), stream).expect("websocket to chromium");
        socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            problems: Vec::new(),
            transferred: 0,
            _profile: profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            browser.call(domain, json!({}));
        }
        browser.call("Network.setCacheDisabled", json!({ "cacheDisabled": true }));
        browser.set_viewport(width, height);
        browser
    }

    /// Sets the page's viewport to `width` × `height` CSS pixels (a phone when narrow).
    pub fn set_viewport(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": width < 600,
            }),
        );
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// Calls `method` on the page and returns its result; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(session))
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("a command reaches chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "chromium did not answer {method}"
            );
            let Some(reply) = self.read() else { continue };
            if reply["id"].as_u64() == Some(id) {
                if let Some(error) = reply.get("error") {
                    panic!("{method}: {error}");
                }
                return reply["result"].clone();
            }
            self.note(&reply);
        }
    }

    fn read(&mut self) -> Option<Value> {
        match self.socket.read() {
            Ok(Message::Text(text)) => serde_json::from_str(text.as_str()).ok(),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("the DevTools connection failed: {e}"),
        }
    }

    /// Records what an event says about the page's health.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.problems.push(Problem {
                    kind: "console error",
                    text: params["args"].to_string(),
                })
            }
            Some("Runtime.exceptionThrown") => self.problems.push(Problem {
                kind: "exception",
                text: params["exceptionDetails"].to_string(),
            }),
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.problems.push(Problem {
                    kind: "log error",
                    text: params["entry"].to_string(),
                })
            }
            Some("Network.loadingFailed") => self.problems.push(Problem {
                kind: "failed request",
                text: params.to_string(),
            }),
            Some("Network.responseReceived") => {
                let status = params["response"]["status"].as_u64().unwrap_or(0);
                if status >= 400 {
                    self.problems.push(Problem {
                        kind: "error response",
                        text: format!("{status} {}", params["response"]["url"]),
                    });
                }
            }
            Some("Network.loadingFinished") => {
                self.transferred += params["encodedDataLength"].as_f64().unwrap_or(0.0) as u64;
            }
            _ => {}
        }
    }

    /// Reads events for `within`, recording them.
    pub fn pump(&mut self, within: Duration) {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(event) = self.read() {
                self.note(&event);
            }
        }
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// The value of the JavaScript `expression` in the page (promises awaited); panics when
    /// it throws.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    /// The value of `expression`, or what it threw (while a page loads, `document.body`
    /// may not be there yet).
    pub fn try_eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        match result.get("exceptionDetails") {
            Some(e) => Err(e.to_string()),
            None => Ok(result["result"]["value"].clone()),
        }
    }

    /// Waits up to `within` for `expression` to be true in the page.
    pub fn wait_until(&mut self, what: &str, expression: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.try_eval(expression) == Ok(json!(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.pump(Duration::from_millis(100));
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}
