//! A `keeperdb ui` server in this test process, on a free port, over a config dir of the test's,
//! and an HTTP client that signs in the way the browser does (the launch token for the cookie).

#![allow(dead_code)]

use std::path::Path;

use keeperdb_core::App;
use keeperdb_gui::Ui;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use serde_json::Value;

pub struct Gui {
    pub port: u16,
    pub launch_url: String,
    pub cookie: Option<String>,
    pub client: Client,
}

impl Gui {
    /// Serve `config` (signed out).
    pub fn start(config: &Path) -> Self {
        let app = App::open(Some(config.to_path_buf())).expect("config dir opens");
        let ui = Ui::bind(app, 0).expect("binds a free port");
        let port = ui.port();
        let launch_url = ui.launch_url();
        std::thread::spawn(move || ui.serve());
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap();
        Self {
            port,
            launch_url,
            cookie: None,
            client,
        }
    }

    /// Serve `config` and sign in.
    pub fn signed_in(config: &Path) -> Self {
        let mut gui = Self::start(config);
        let answer = gui
            .client
            .get(&gui.launch_url)
            .send()
            .expect("server answers");
        assert_eq!(answer.status(), 303, "the launch URL signs in");
        let set = answer
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_string();
        gui.cookie = set.split(';').next().map(str::to_string);
        gui
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    fn with_cookie(
        &self,
        r: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.cookie {
            Some(c) => r.header(COOKIE, c),
            None => r,
        }
    }

    /// A GET as the page makes it.
    pub fn get(&self, path: &str) -> Response {
        self.with_cookie(self.client.get(self.url(path)))
            .send()
            .unwrap()
    }

    /// A POST as the page makes it: JSON, the custom header, this server's Origin.
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.with_cookie(self.client.post(self.url(path)))
            .header(CONTENT_TYPE, "application/json")
            .header("X-KeeperDB", "1")
            .header(ORIGIN, self.origin())
            .body(body.to_string())
            .send()
            .unwrap()
    }

    /// A GET that must succeed, as JSON.
    pub fn get_json(&self, path: &str) -> Value {
        ok_json(self.get(path), path)
    }

    /// A POST that must succeed, as JSON.
    pub fn post_json(&self, path: &str, body: &Value) -> Value {
        ok_json(self.post(path, body), path)
    }

    /// A request with a `Host` of the caller's choosing.
    pub fn get_with_host(&self, path: &str, host: &str) -> Response {
        self.with_cookie(self.client.get(self.url(path)))
            .header(HOST, host)
            .send()
            .unwrap()
    }
}

pub fn ok_json(r: Response, what: &str) -> Value {
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{what}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// The `error` of a refused call, with its status.
pub fn error_of(r: Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().expect("an error body");
    (
        status,
        v["error"]["kind"].as_str().unwrap_or_default().to_string(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}
