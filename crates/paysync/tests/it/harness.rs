//! Spawns what the tests need: localstripe, the seeding script, paysync itself.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python, prepared by scripts/test.sh (or scripts/venv.sh).
pub fn python() -> PathBuf {
    venv_python("PAYSYNC_PYTHON", ".venv")
}

/// The Python of the API contract checks' venv (scripts/venv.sh schemathesis).
pub fn schemathesis_python() -> PathBuf {
    venv_python("PAYSYNC_SCHEMATHESIS_PYTHON", ".venv-schemathesis")
}

fn venv_python(variable: &str, venv: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(venv).join("bin/python"));
    assert!(
        path.exists(),
        "{} not found: run the tests with ./scripts/test.sh (it creates the Python venvs)",
        path.display()
    );
    path
}

pub fn script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Localstripe {
    pub url: String,
    _proc: Proc,
}

impl Localstripe {
    pub fn start() -> Self {
        let mut child = Command::new(python())
            .arg(script("localstripe_serve.py"))
            .args(["--port", "0", "--exit-with-parent"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start localstripe");
        let stdout = child.stdout.take().expect("localstripe stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read localstripe port");
        let port = line
            .strip_prefix("LISTENING ")
            .map(str::trim)
            .unwrap_or_else(|| panic!("unexpected localstripe output {line:?}"));
        Localstripe {
            url: format!("http://127.0.0.1:{port}"),
            _proc: Proc(child),
        }
    }

    /// Seeds `customers` customers with payment activity through the official SDK; returns the
    /// manifest of what the API holds afterwards.
    pub fn seed(&self, customers: usize, webhook: Option<(&str, &str)>, dir: &Path) -> Value {
        self.seed_with(customers, webhook, dir, 42)
    }

    /// As [`Localstripe::seed`], with the seed of the generator: another seed makes other
    /// people. Webhook endpoints registered by an earlier seeding keep receiving events.
    pub fn seed_with(
        &self,
        customers: usize,
        webhook: Option<(&str, &str)>,
        dir: &Path,
        seed: u64,
    ) -> Value {
        let manifest = dir.join("manifest.json");
        let mut cmd = Command::new(python());
        cmd.arg(script("stripe_seed.py"))
            .args(["--api-base", &self.url])
            .args(["--customers", &customers.to_string()])
            .args(["--seed", &seed.to_string()])
            .arg("--manifest")
            .arg(&manifest);
        if let Some((url, secret)) = webhook {
            cmd.args(["--webhook-url", url, "--webhook-secret", secret]);
        }
        let status = cmd.status().expect("run stripe_seed.py");
        assert!(status.success(), "stripe_seed.py failed");
        serde_json::from_slice(&std::fs::read(manifest).expect("manifest")).expect("manifest JSON")
    }
}

/// A customer of a seeding manifest, alive, with an email, whom the SDK charged successfully.
pub fn paying_customer(manifest: &Value) -> &Value {
    manifest["customer_summaries"]
        .as_array()
        .expect("customer summaries")
        .iter()
        .find(|c| {
            c["deleted"] == false
                && c["email"].is_string()
                && c["charges"].as_u64() > c["failed_charges"].as_u64()
        })
        .expect("a paying customer in the seed")
}

/// A paysync configuration in a temporary directory, and ways to run paysync against it.
pub struct Paysync {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

pub struct AccountSpec<'a> {
    pub name: &'a str,
    pub api_base: &'a str,
    pub secrets: &'a [&'a str],
    pub extra: &'a str,
}

impl Paysync {
    pub fn new(accounts: &[AccountSpec<'_>]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\npath = \"{}\"\n[stripe]\ncatchup_interval_secs = 3600\n",
            dir.path().join("paysync.db").display()
        );
        for a in accounts {
            let secrets: Vec<String> = (0..a.secrets.len())
                .map(|i| format!("\"env:TEST_WHSEC_{}_{i}\"", a.name.to_uppercase()))
                .collect();
            toml.push_str(&format!(
                "[[stripe.accounts]]\nname = \"{}\"\nmode = \"test\"\napi_key = \"env:TEST_STRIPE_KEY\"\nwebhook_secrets = [{}]\napi_base = \"{}\"\n{}\n",
                a.name,
                secrets.join(", "),
                a.api_base,
                a.extra
            ));
        }
        std::fs::write(dir.path().join("paysync.toml"), toml).expect("write config");
        let env: Vec<(String, String)> = accounts
            .iter()
            .flat_map(|a| {
                a.secrets.iter().enumerate().map(|(i, s)| {
                    (
                        format!("TEST_WHSEC_{}_{i}", a.name.to_uppercase()),
                        (*s).to_owned(),
                    )
                })
            })
            .collect();
        std::fs::write(
            dir.path().join("env.json"),
            serde_json::to_string(&env).unwrap(),
        )
        .unwrap();
        Paysync { dir, port }
    }

    /// One test-mode account named `main`, with one webhook secret and extra TOML lines.
    pub fn one_account(api_base: &str, secret: &str, extra: &str) -> Self {
        Paysync::new(&[AccountSpec {
            name: "main",
            api_base,
            secrets: &[secret],
            extra,
        }])
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paysync"));
        cmd.current_dir(self.dir.path())
            .env("TEST_STRIPE_KEY", "sk_test_paysync")
            .env("RUST_LOG", "info")
            .arg("--config")
            .arg(self.dir.path().join("paysync.toml"));
        let env: Vec<(String, String)> =
            serde_json::from_slice(&std::fs::read(self.dir.path().join("env.json")).unwrap())
                .unwrap();
        cmd.envs(env);
        cmd
    }

    /// Adds a variable to the environment every paysync command of this test runs with.
    pub fn set_env(&self, name: &str, value: &str) {
        let path = self.dir.path().join("env.json");
        let mut env: Vec<(String, String)> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        env.push((name.to_owned(), value.to_owned()));
        std::fs::write(path, serde_json::to_string(&env).unwrap()).unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Starts `paysync serve` and waits until it answers /healthz.
    pub fn serve(&self) -> Proc {
        let log = std::fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start paysync serve");
        let proc = Proc(child);
        let client = http::blocking_client();
        wait_until(
            Duration::from_secs(30),
            "paysync serve to answer /healthz",
            || {
                client
                    .get(self.url("/healthz"))
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            },
        );
        proc
    }

    /// Starts `paysync <args>` in the background, its log in `<log>.log` of the test directory.
    pub fn spawn(&self, args: &[&str], log: &str) -> Proc {
        let file = std::fs::File::create(self.dir.path().join(format!("{log}.log"))).unwrap();
        let child = self
            .command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start paysync {args:?}: {e}"));
        Proc(child)
    }

    /// The log of a process started with [`Paysync::spawn`].
    pub fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{log}.log"))).unwrap_or_default()
    }

    /// A throwaway schema at `PAYSYNC_TEST_DATABASE_URL` (required), used by every command of
    /// this test from now on (`store.url`).
    pub fn use_postgres(&self) -> paysync_store::scratch::ScratchSchema {
        let base = std::env::var("PAYSYNC_TEST_DATABASE_URL").expect(
            "PAYSYNC_TEST_DATABASE_URL is not set: run the tests with ./scripts/test.sh \
             (PostgreSQL at postgres://postgres@127.0.0.1:5432/test by default)",
        );
        let schema = paysync_store::scratch::ScratchSchema::create(&base, "paysync_it")
            .unwrap_or_else(|e| panic!("PostgreSQL at PAYSYNC_TEST_DATABASE_URL: {e}"));
        self.set_env("PAYSYNC_STORE__URL", &schema.url());
        schema
    }

    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Runs a paysync command to completion and returns its stdout; panics with its output on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run paysync");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "paysync {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    pub fn status(&self, account: &str) -> Value {
        let all: Value =
            serde_json::from_str(&self.run(&["status", "--json"])).expect("status JSON");
        all["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["account"] == account))
            .cloned()
            .unwrap_or_else(|| panic!("no status for {account}: {all}"))
    }
}

/// Counts of live and deleted objects of `kind` in a status report.
pub fn objects(status: &Value, kind: &str) -> (u64, u64) {
    status["objects"]
        .as_array()
        .and_then(|a| a.iter().find(|k| k["kind"] == kind))
        .map_or((0, 0), |k| {
            (
                k["live"].as_u64().unwrap_or(0),
                k["deleted"].as_u64().unwrap_or(0),
            )
        })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signs payloads with the official SDK (scripts/stripe_sign.py --many).
pub fn sdk_sign(requests: &[(String, Vec<&str>, i64)]) -> Vec<String> {
    let mut child = Command::new(python())
        .arg(script("stripe_sign.py"))
        .arg("--many")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run stripe_sign.py");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (payload, secrets, timestamp) in requests {
            let line = serde_json::json!({ "payload": payload, "secret": secrets, "timestamp": timestamp });
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let out = child.wait_with_output().expect("stripe_sign.py output");
    assert!(out.status.success(), "stripe_sign.py failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("stripe_sign.py JSON line");
            v["header"].as_str().expect("header").to_owned()
        })
        .collect()
}

pub mod http {
    /// A blocking-style HTTP client for tests: a current-thread runtime around reqwest.
    pub fn blocking_client() -> Client {
        client(::reqwest::Client::builder())
    }

    /// A client that answers redirects as they are (to read `Location` and `Set-Cookie`).
    pub fn no_redirects() -> Client {
        client(::reqwest::Client::builder().redirect(::reqwest::redirect::Policy::none()))
    }

    fn client(builder: ::reqwest::ClientBuilder) -> Client {
        // reqwest is built without a default TLS provider; paysync installs ring the same way.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            inner: builder.build().unwrap(),
        }
    }

    pub struct Client {
        rt: tokio::runtime::Runtime,
        inner: ::reqwest::Client,
    }

    pub struct Response {
        pub status: u16,
        pub headers: ::reqwest::header::HeaderMap,
        pub body: String,
    }

    impl Response {
        pub fn status(&self) -> ::reqwest::StatusCode {
            ::reqwest::StatusCode::from_u16(self.status).unwrap()
        }
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
        }
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    pub struct Request<'a> {
        client: &'a Client,
        builder: ::reqwest::RequestBuilder,
    }

    impl Client {
        pub fn get(&self, url: String) -> Request<'_> {
            Request {
                client: self,
                builder: self.inner.get(url),
            }
        }
        pub fn post(&self, url: String) -> Request<'_> {
            Request {
                client: self,
                builder: self.inner.post(url),
            }
        }
        pub fn patch(&self, url: String) -> Request<'_> {
            Request {
                client: self,
                builder: self.inner.patch(url),
            }
        }
        pub fn request(&self, method: &str, url: String) -> Request<'_> {
            let method = ::reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            Request {
                client: self,
                builder: self.inner.request(method, url),
            }
        }
    }

    impl Request<'_> {
        pub fn header(self, k: &str, v: &str) -> Self {
            Request {
                client: self.client,
                builder: self.builder.header(k, v),
            }
        }
        pub fn body(self, b: impl Into<::reqwest::Body>) -> Self {
            Request {
                client: self.client,
                builder: self.builder.body(b),
            }
        }
        pub fn send(self) -> Result<Response, ::reqwest::Error> {
            self.client.rt.block_on(async {
                let r = self.builder.send().await?;
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                let body = r.text().await?;
                Ok(Response {
                    status,
                    headers,
                    body,
                })
            })
        }
    }
}
