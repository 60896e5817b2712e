//! A real browser for tests: headless Chromium driven through ChromeDriver
//! by the W3C WebDriver protocol, over HTTP on loopback.
//!
//! The console's test drives its real page with it and asserts on what the
//! page says (text, attributes), never on pixels. Only what the tests use
//! is here: open a page, find an element by CSS selector, type, click,
//! read text and attributes, run a script, wait until the page shows
//! something, and take a screenshot.
//!
//! Chromium runs as this machine needs it (the flags in [`CHROMIUM_ARGS`]:
//! no sandbox as root, no GPU, and none of its background connections,
//! which a closed network refuses), with a fresh profile of its own.
//! ChromeDriver and its browser run in a process group of their own,
//! ended when the [`Browser`] is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The flags Chromium runs with.
pub const CHROMIUM_ARGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
];

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What went wrong with the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("starting {program}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("chromedriver did not become ready within {0:?}")]
    NotReady(Duration),
    #[error("webdriver {what}: {message}")]
    WebDriver { what: String, message: String },
    #[error("{0}")]
    Timeout(String),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A headless Chromium with one WebDriver session.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

impl Browser {
    /// Starts ChromeDriver (`CHROMEDRIVER`, else `/usr/bin/chromedriver`)
    /// on a free loopback port and opens a session with Chromium
    /// (`CHROMIUM`, else `/usr/bin/chromium`).
    pub async fn start() -> Result<Self, BrowserError> {
        let driver_program = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("CHROMIUM", "/usr/bin/chromium");
        let port = crate::natsd::free_port().map_err(|e| BrowserError::Start {
            program: "a free port".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut command = Command::new(&driver_program);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().map_err(|source| BrowserError::Start {
            program: driver_program.clone(),
            source,
        })?;
        let profile = tempfile::tempdir().map_err(|source| BrowserError::Start {
            program: "a profile folder".into(),
            source,
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| BrowserError::WebDriver {
                what: "client".into(),
                message: e.to_string(),
            })?;
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            http,
            base,
            session: String::new(),
            driver,
            _profile: profile,
        };
        browser.wait_ready(Duration::from_secs(30)).await?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        ));
        let answer = browser
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                }}})),
            )
            .await?;
        browser.session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| BrowserError::WebDriver {
                what: "new session".into(),
                message: format!("no session id in {answer}"),
            })?
            .to_owned();
        Ok(browser)
    }

    async fn wait_ready(&self, within: Duration) -> Result<(), BrowserError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(r) = self.http.get(format!("{}/status", self.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BrowserError::NotReady(within));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver command; its `value`, or the error it names.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BrowserError> {
        let what = format!("{method} {path}");
        let failed = |message: String| BrowserError::WebDriver {
            what: what.clone(),
            message,
        };
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!(
                "{status}: {} {}",
                value["value"]["error"].as_str().unwrap_or(""),
                value["value"]["message"].as_str().unwrap_or("")
            )));
        }
        Ok(value["value"].clone())
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.call(
            reqwest::Method::POST,
            &self.at("/url"),
            Some(json!({"url": url})),
        )
        .await
        .map(drop)
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> Result<Element, BrowserError> {
        let v = self
            .call(
                reqwest::Method::POST,
                &self.at("/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        let id = v[ELEMENT]
            .as_str()
            .ok_or_else(|| BrowserError::WebDriver {
                what: format!("find {css}"),
                message: format!("no element in {v}"),
            })?
            .to_owned();
        Ok(Element { id })
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) -> Result<(), BrowserError> {
        self.call(
            reqwest::Method::POST,
            &self.at(&format!("/element/{}/click", element.id)),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Types `text` into `element`.
    pub async fn type_into(&self, element: &Element, text: &str) -> Result<(), BrowserError> {
        self.call(
            reqwest::Method::POST,
            &self.at(&format!("/element/{}/value", element.id)),
            Some(json!({"text": text})),
        )
        .await
        .map(drop)
    }

    /// The text `element` shows.
    pub async fn text(&self, element: &Element) -> Result<String, BrowserError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.at(&format!("/element/{}/text", element.id)),
                None,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` in the page with `args`; what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, BrowserError> {
        self.call(
            reqwest::Method::POST,
            &self.at("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The text of the whole page, as shown (`innerText` of the body).
    pub async fn body_text(&self) -> Result<String, BrowserError> {
        let v = self
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's markup now.
    pub async fn page_source(&self) -> Result<String, BrowserError> {
        let v = self
            .call(reqwest::Method::GET, &self.at("/source"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until `script` (run in the page) returns `true`, for at most
    /// `within`; on timeout the error says `what` and what the page showed.
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        script: &str,
    ) -> Result<(), BrowserError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.execute(script, vec![]).await? == Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let shown = self.body_text().await.unwrap_or_default();
                return Err(BrowserError::Timeout(format!(
                    "{what}: not within {within:?}; the page showed:\n{shown}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of the element `css` contains `text`.
    pub async fn wait_for_text(
        &self,
        css: &str,
        text: &str,
        within: Duration,
    ) -> Result<(), BrowserError> {
        let script = format!(
            "const e = document.querySelector({}); return !!e && e.innerText.includes({});",
            serde_json::to_string(css).unwrap_or_default(),
            serde_json::to_string(text).unwrap_or_default(),
        );
        self.wait_until(&format!("{css} showing {text:?}"), within, &script)
            .await
    }

    /// A PNG of the window, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        use base64::Engine;
        let v = self
            .call(reqwest::Method::GET, &self.at("/screenshot"), None)
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| BrowserError::WebDriver {
                what: "screenshot".into(),
                message: e.to_string(),
            })?;
        std::fs::write(path, png).map_err(|source| BrowserError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Ends the session (the browser quits) and ChromeDriver.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        let ended = self.call(reqwest::Method::DELETE, &self.at(""), None).await;
        self.end_driver();
        ended.map(drop)
    }

    fn end_driver(&mut self) {
        // The whole group: ChromeDriver and the browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.end_driver();
    }
}
