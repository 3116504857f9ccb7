//! `qalita-gitlab serve` on a network: clients that trickle their headers or body are cut after the
//! time-outs, a flood of idle connections cannot take the process's file descriptors, a request is
//! judged on its headers before any byte of its body is read, bodies held in memory are bounded, a
//! body that cannot be read gets `400`, no raw header reaches the log, TLS works (and plain HTTP on
//! its port fails cleanly), signed deliveries are checked, and secrets or TLS files that cannot be
//! used stop the start with exit code 2.
//!
//! Every test runs the built binary on 127.0.0.1 port 0, against the simulators, and speaks raw
//! HTTP/1.1 where a well-behaved client would not show the behaviour.

mod serve_support;

use std::path::Path;
use std::time::Duration;

use qalita_gitlab::serve::{HEALTH_PATH, WEBHOOK_PATH};
use qalita_gitlab_core::webhook::signature::SigningKey;
use qalita_gitlab_sims::gitlab::WebhookConfig;
use serde_json::Value;
use serve_support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A real GitLab delivery (an issue opened).
const ISSUE_OPEN: &str = include_str!("../../fixtures/gitlab/issue_open.json");
/// The longest a test waits for a connection to be cut or answered.
const CUT_PATIENCE: Duration = Duration::from_secs(30);
/// A signing token in GitLab's form: `whsec_` and the base64 of 32 bytes.
const SIGNING_TOKEN: &str = "whsec_cWFsaXRhLWdpdGxhYi1zZXJ2ZS1zaWduaW5nLWtleSE=";

/// A `serve` process against the simulators, its secrets in its environment.
struct Running {
    sims: Sims,
    process: Process,
    url: String,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts it with `extra` arguments and `env` variables, and waits until it serves.
    async fn start(extra: &[&str], env: &[(&str, &str)]) -> Running {
        let sims = Sims::start().await;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (config, data) = (config_file(&sims, dir.path()), dir.path().join("data"));
        let mut args = vec!["--config", text(&config), "--data-dir", text(&data), "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut process = Process::serve_with_env(&args, true, env);
        let url = process.webhook_url().await;
        Running { sims, process, url, _dir: dir }
    }

    /// `127.0.0.1:<port>`.
    fn address(&self) -> String {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest).to_owned()
    }

    /// Starts it, points GitLab's hook at it and waits until the poll's work at start is done,
    /// so that the queue is empty.
    async fn start_idle(extra: &[&str], env: &[(&str, &str)]) -> Running {
        let mut running = Running::start(extra, env).await;
        hooked_and_linked(&running.sims, &mut running.process).await;
        running
    }

    fn health_url(&self) -> String {
        self.url.replace(WEBHOOK_PATH, HEALTH_PATH)
    }

    /// Messages waiting or in flight, as `/healthz` tells.
    async fn queued(&self) -> u64 {
        let health: Value =
            reqwest::get(self.health_url()).await.expect("an answer").json().await.expect("health as JSON");
        health["queue"]["available"].as_u64().unwrap_or(u64::MAX) + health["queue"]["in_flight"].as_u64().unwrap_or(0)
    }
}

/// The request line and headers of a webhook delivery.
fn head(address: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// Reads an HTTP answer up to the end of its body (or of the connection): its status and text.
async fn read_answer(stream: &mut (impl AsyncRead + Unpin)) -> (u16, String) {
    let mut buffer = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length {
                    return;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(CUT_PATIENCE, reading).await.expect("an answer in time");
    let text = String::from_utf8_lossy(&buffer).into_owned();
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Whether the server ends the connection (a read ends) within [`CUT_PATIENCE`].
async fn closed_by_server(stream: &mut (impl AsyncRead + Unpin)) -> bool {
    let mut sink = [0u8; 4096];
    let ended = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                return;
            }
        }
    };
    tokio::time::timeout(CUT_PATIENCE, ended).await.is_ok()
}

/// Sends `at_once`, then `slowly` one byte a second until the server ends the connection; the
/// number of slow bytes sent and what the server answered.
async fn trickle(address: String, at_once: String, slowly: String) -> (usize, String) {
    let stream = TcpStream::connect(&address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(at_once.as_bytes()).await.expect("the first bytes");
    let reading = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = tokio::time::timeout(CUT_PATIENCE, reader.read_to_end(&mut text)).await;
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut sent = 0;
    for byte in slowly.bytes() {
        if reading.is_finished() || writer.write_all(&[byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (sent, reading.await.expect("the reader"))
}

/// A delivery of `body` as GitLab sends it, with `token`: the status and the answer.
async fn deliver(client: &reqwest::Client, url: &str, token: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let answer = client
        .post(url)
        .header("X-Gitlab-Event", "Issue Hook")
        .header("X-Gitlab-Token", token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn clients_trickling_their_headers_or_body_are_cut_after_the_time_outs_while_a_delivery_is_answered() {
    let running = Running::start(&["--header-read-timeout", "2s", "--body-read-timeout", "2s"], &[]).await;
    let address = running.address();
    let whole_head = head(
        &address,
        &[("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Token", WEBHOOK_SECRET), ("Content-Length", "60")],
    );
    let slow_head = tokio::spawn(trickle(address.clone(), String::new(), whole_head.clone()));
    let slow_body = tokio::spawn(trickle(address.clone(), whole_head.clone(), " ".repeat(60)));

    let (status, answer) = deliver(&reqwest::Client::new(), &running.url, WEBHOOK_SECRET, ISSUE_OPEN).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")), "{answer}");

    let (sent, answered) = slow_head.await.expect("the slow head");
    assert!(sent < whole_head.len(), "cut before its head was complete: {sent} bytes sent");
    assert_eq!(answered, "", "nothing answered to a request never complete");
    let (sent, answered) = slow_body.await.expect("the slow body");
    assert!(sent < 60, "cut before its body was complete: {sent} bytes sent");
    assert!(answered.starts_with("HTTP/1.1 408"), "{answered}");
    let log = running.process.stderr();
    assert!(log.contains("body_timeout"), "{log}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_flood_of_idle_connections_beyond_the_cap_keeps_the_file_descriptors_bounded_and_deliveries_go_on() {
    const CAP: usize = 8;
    const FLOOD: usize = 60;
    let mut running = Running::start(&["--max-connections", "8", "--header-read-timeout", "2s"], &[]).await;
    hooked_and_linked(&running.sims, &mut running.process).await;
    let open_files = |pid: u32| std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the process's files").count();
    let before = open_files(running.process.pid());

    let address = running.address();
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        flood.push(TcpStream::connect(&address).await.expect("connect"));
    }
    wait_until("the cap's warning", || running.process.stderr().contains("too many open connections")).await;
    let during = open_files(running.process.pid());
    // The cap, and a little room for the process's own calls (the poll, GitLab, QALITA).
    assert!(during <= before + CAP + 4, "{during} files open with the flood, {before} before");

    // The flood is cut after the header time-out; then deliveries are answered as usual.
    let mut answered = Vec::new();
    let deadline = std::time::Instant::now() + CUT_PATIENCE;
    while answered.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery answered after the flood: {}",
            running.process.stderr()
        );
        // A fresh connection each time: a refused one must not stay in a pool.
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("a client");
        let sent = client
            .post(&running.url)
            .header("X-Gitlab-Event", "Issue Hook")
            .header("X-Gitlab-Token", WEBHOOK_SECRET)
            .body(ISSUE_OPEN)
            .send()
            .await;
        match sent {
            Ok(answer) => answered.push(answer.status().as_u16()),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert_eq!(answered, [200, 200, 200]);
    for stream in &mut flood {
        assert!(closed_by_server(stream).await, "every idle connection is closed by the server");
    }
    let log = running.process.stderr();
    let warnings = log.matches("too many open connections").count();
    assert!(warnings < FLOOD - CAP, "the warning is rate-limited: {warnings} lines for {} refusals", FLOOD - CAP);
}

#[tokio::test]
async fn an_unauthenticated_delivery_is_answered_401_before_its_body_is_read() {
    let running = Running::start_idle(&[], &[]).await;
    let address = running.address();
    for token in [Some("not-the-secret"), Some(""), None] {
        let mut headers = vec![("X-Gitlab-Event", "Issue Hook"), ("Content-Length", "6291456")];
        if let Some(token) = token {
            headers.push(("X-Gitlab-Token", token));
        }
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        // Only the head: the 6 MiB announced are never sent.
        stream.write_all(head(&address, &headers).as_bytes()).await.expect("the head");
        let (status, text) = read_answer(&mut stream).await;
        assert_eq!(status, 401, "{token:?}: {text}");
        assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
        assert!(closed_by_server(&mut stream).await, "the server waits for no body");
    }
    assert_eq!(running.queued().await, 0, "nothing queued");
}

#[tokio::test]
async fn an_authentic_delivery_over_the_limit_is_acknowledged_and_ignored_in_token_mode() {
    let running = Running::start_idle(&[], &[]).await;
    let client = reqwest::Client::new();
    let over = vec![b' '; 6 * 1024 * 1024 + 1];
    let (status, answer) = deliver(&client, &running.url, WEBHOOK_SECRET, over).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")), "{answer}");

    // Chunked, with no length announced: stopped at the limit, the rest read and dropped.
    let address = running.address();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let headers =
        [("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Token", WEBHOOK_SECRET), ("Transfer-Encoding", "chunked")];
    stream.write_all(head(&address, &headers).as_bytes()).await.expect("the head");
    let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x10_0000));
    for _ in 0..7 {
        stream.write_all(chunk.as_bytes()).await.expect("a chunk of 1 MiB");
    }
    stream.write_all(b"0\r\n\r\n").await.expect("the last chunk");
    let (status, text) = read_answer(&mut stream).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"ignored\""), "{text}");
    assert_eq!(running.queued().await, 0, "nothing queued");
}

#[tokio::test]
async fn a_body_that_cannot_be_read_gets_400() {
    let running = Running::start_idle(&[], &[]).await;
    let address = running.address();
    let authentic = [("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Token", WEBHOOK_SECRET)];

    let mut malformed = TcpStream::connect(&address).await.expect("connect");
    let headers = [authentic[0], authentic[1], ("Transfer-Encoding", "chunked")];
    malformed.write_all(format!("{}zz\r\n{{}}\r\n0\r\n\r\n", head(&address, &headers)).as_bytes()).await.expect("send");
    let (status, text) = read_answer(&mut malformed).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("the body could not be read"), "{text}");

    // Fewer bytes than announced, then the client's side shut.
    let mut short = TcpStream::connect(&address).await.expect("connect");
    let headers = [authentic[0], authentic[1], ("Content-Length", "100")];
    short.write_all(format!("{}{{\"object_kind\"", head(&address, &headers)).as_bytes()).await.expect("send");
    short.shutdown().await.expect("shut the sending side");
    let (status, text) = read_answer(&mut short).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("the body could not be read"), "{text}");
    assert_eq!(running.queued().await, 0, "nothing queued");
}

#[tokio::test]
async fn a_delivery_whose_body_does_not_fit_the_bound_in_memory_gets_503_unread() {
    let running = Running::start(&["--max-inflight-body-bytes", "6MiB", "--body-read-timeout", "2s"], &[]).await;
    let address = running.address();
    let authentic = head(
        &address,
        &[("X-Gitlab-Event", "Issue Hook"), ("X-Gitlab-Token", WEBHOOK_SECRET), ("Content-Length", "4194304")],
    );
    // Two deliveries of 4 MiB on their way at once: one is held (and cut when its body does not
    // come), the other does not fit in 6 MiB and is refused at once, unread.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream.write_all(format!("{authentic}{{").as_bytes()).await.expect("send");
        streams.push(stream);
    }
    let (mut first, mut second) = (streams.remove(0), streams.remove(0));
    let ((one, one_text), (two, two_text)) = tokio::join!(read_answer(&mut first), read_answer(&mut second));
    let mut statuses = [one, two];
    statuses.sort_unstable();
    assert_eq!(statuses, [408, 503], "{one_text}\n{two_text}");
    let refused = if one == 503 { one_text } else { two_text };
    assert!(refused.contains("try again"), "{refused}");

    // Once the held one is gone, a delivery fits again.
    let (status, answer) = deliver(&reqwest::Client::new(), &running.url, WEBHOOK_SECRET, ISSUE_OPEN).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_huge_event_header_on_a_refused_delivery_stays_out_of_the_log() {
    let running = Running::start(&[], &[]).await;
    let huge = format!("Issue Hook {}", "Zq".repeat(50_000));
    let answer = reqwest::Client::new()
        .post(&running.url)
        .header("X-Gitlab-Event", &huge)
        .header("X-Gitlab-Token", "not-the-secret")
        .body(ISSUE_OPEN)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 401);
    // The delivery line is written before the answer; the log is read as it comes.
    wait_until("the delivery's log line", || running.process.stderr().contains("unauthorized")).await;
    let log = running.process.stderr();
    assert!(!log.contains(&"Zq".repeat(32)), "no part of the header in the log");
    assert!(log.contains("\"event\":\"other\""), "{log}");
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM.
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("a test certificate");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    text_of(&path)
}

fn text_of(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

#[tokio::test]
async fn tls_serves_https_and_plain_http_to_its_port_fails_cleanly() {
    let files = tempfile::tempdir().expect("a temporary folder");
    let (cert, key) = certificate();
    let (cert_file, key_file) = (write(files.path(), "cert.pem", &cert), write(files.path(), "key.pem", &key));
    let running = Running::start(&["--tls-cert", &cert_file, "--tls-key", &key_file], &[]).await;
    assert!(running.url.starts_with("https://127.0.0.1:"), "{}", running.url);

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("the certificate"))
        .build()
        .expect("a client");
    let (status, answer) = deliver(&trusting, &running.url, WEBHOOK_SECRET, ISSUE_OPEN).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")), "{answer}");

    let plain = running.url.replace("https://", "http://");
    let refused = reqwest::Client::new().post(&plain).body(ISSUE_OPEN).send().await;
    assert!(refused.is_err(), "plain HTTP gets no HTTP answer: {refused:?}");
    let untrusting = reqwest::Client::new().get(running.health_url()).send().await;
    assert!(untrusting.is_err(), "an unknown certificate is refused by the client");

    let health = trusting.get(running.health_url()).send().await.expect("an answer");
    assert_eq!(health.status().as_u16(), 200, "still serving after the plain request");
    let log = running.process.stderr();
    assert!(!log.contains("PRIVATE KEY"), "no key in the log");
}

#[tokio::test]
async fn tls_files_that_cannot_be_used_stop_the_start_with_exit_code_2() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, data) = (text_of(&config_file(&sims, dir.path())), text_of(&dir.path().join("data")));
    let (cert, key) = certificate();
    let (_, other_key) = certificate();
    let cert_file = write(dir.path(), "cert.pem", &cert);
    let key_file = write(dir.path(), "key.pem", &key);
    let other_key_file = write(dir.path(), "other-key.pem", &other_key);
    let not_pem = write(dir.path(), "not-pem.txt", "not a key\n");
    let missing = text_of(&dir.path().join("missing.pem"));
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--tls-cert", &missing, "--tls-key", &key_file], &["--tls-cert", "missing.pem"]),
        (&["--tls-cert", &cert_file, "--tls-key", &not_pem], &["--tls-key", "no PEM private key"]),
        (&["--tls-cert", &not_pem, "--tls-key", &key_file], &["--tls-cert", "no PEM certificate"]),
        (&["--tls-cert", &cert_file, "--tls-key", &other_key_file], &["cannot be used together", "other-key.pem"]),
        (&["--tls-cert", &cert_file], &["--tls-key"]),
    ];
    for (tls, expected) in cases {
        let mut args = vec!["--config", config.as_str(), "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
        args.extend_from_slice(tls);
        let mut serve = Process::serve(&args, true);
        assert_eq!(serve.exit_code_within(Duration::from_secs(10)).await, Some(2), "{tls:?}: {}", serve.stderr());
        let stderr = serve.stderr();
        for words in expected {
            assert!(stderr.contains(words), "{tls:?}: {stderr}");
        }
        assert!(!stderr.contains("PRIVATE KEY"), "no key shown: {stderr}");
    }
}

#[tokio::test]
async fn a_webhook_secret_of_only_whitespace_stops_the_start_from_the_environment_or_the_file() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, data) = (text_of(&config_file(&sims, dir.path())), text_of(&dir.path().join("data")));
    let base = ["--config", config.as_str(), "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    for blank in ["   ", " \n"] {
        let mut serve = Process::serve_with_env(&base, true, &[("QALITA_GITLAB_WEBHOOK_SECRET", blank)]);
        assert_eq!(serve.exit_code_within(Duration::from_secs(10)).await, Some(2), "{blank:?}: {}", serve.stderr());
        let stderr = serve.stderr();
        assert!(stderr.contains("webhook secret") && stderr.contains("QALITA_GITLAB_WEBHOOK_SECRET"), "{stderr}");
        assert!(stderr.contains("whitespace"), "{stderr}");
    }

    let file = write_secrets_file(dir.path());
    let mut text = std::fs::read_to_string(&file).expect("the secrets file");
    text = text.replace(&format!("\"{WEBHOOK_SECRET}\""), "\" \\n\"");
    std::fs::write(&file, text).expect("a blank webhook secret");
    let file = text_of(&file);
    let mut args = base.to_vec();
    args.extend(["--secrets-file", file.as_str()]);
    let mut serve = Process::serve(&args, false);
    assert_eq!(serve.exit_code_within(Duration::from_secs(10)).await, Some(2), "{}", serve.stderr());
    let stderr = serve.stderr();
    assert!(stderr.contains("qalita-gitlab/webhook-secret") && stderr.contains("secrets.toml"), "{stderr}");
    assert!(stderr.contains("whitespace") && stderr.contains("--secrets-file"), "{stderr}");
    for (_, value) in secret_values() {
        assert!(!stderr.contains(value), "no secret shown: {stderr}");
    }
}

#[tokio::test]
async fn signed_deliveries_are_checked_in_signature_mode_and_unsigned_ones_refused_before_their_body() {
    let running = Running::start(
        &["--webhook-auth-mode", "signature"],
        &[("QALITA_GITLAB_WEBHOOK_SIGNING_SECRET", SIGNING_TOKEN), ("QALITA_GITLAB_WEBHOOK_SECRET", "")],
    )
    .await;
    let url = running.url.clone();
    // GitLab signs each delivery with the hook's signing token, and sends no secret token.
    running.sims.gitlab.set_webhook(Some(WebhookConfig::new(&url).with_signing_token(SIGNING_TOKEN)));
    wait_until("the GitLab issue", || running.sims.gitlab_issue_of(ISSUE).is_some()).await;
    let iid = running.sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;
    running.sims.person_closes(iid).await;
    wait_until("QALITA resolved", || running.sims.qalita_status(ISSUE) == "resolved").await;

    let address = running.address();
    let mut unsigned = TcpStream::connect(&address).await.expect("connect");
    let headers = [("X-Gitlab-Event", "Issue Hook"), ("Content-Length", "6291456")];
    unsigned.write_all(head(&address, &headers).as_bytes()).await.expect("the head");
    let (status, text) = read_answer(&mut unsigned).await;
    assert_eq!(status, 401, "{text}");

    let key = SigningKey::parse(SIGNING_TOKEN).expect("the signing token");
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let client = reqwest::Client::new();
    let signed = |body: &[u8], signature: String| {
        client
            .post(&url)
            .header("X-Gitlab-Event", "Issue Hook")
            .header("webhook-id", "msg-of-the-serve-tests")
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
    };
    let forged = signed(ISSUE_OPEN.as_bytes(), key.sign("msg-of-the-serve-tests", &timestamp, b"another body")).await;
    assert_eq!(forged.expect("an answer").status().as_u16(), 401);
    // Over the limit, only a signature over the whole body could authenticate it: answered 413
    // from the head alone (a client still sending would see its write cut; this one sends only
    // the head, as the unauthenticated case does).
    let large = vec![b' '; 6 * 1024 * 1024 + 1];
    let signature = key.sign("msg-of-the-serve-tests", &timestamp, &large);
    let length = large.len().to_string();
    let headers = [
        ("X-Gitlab-Event", "Issue Hook"),
        ("Content-Length", length.as_str()),
        ("webhook-id", "msg-of-the-serve-tests"),
        ("webhook-timestamp", timestamp.as_str()),
        ("webhook-signature", signature.as_str()),
    ];
    let mut too_large = TcpStream::connect(&address).await.expect("connect");
    too_large.write_all(head(&address, &headers).as_bytes()).await.expect("the head");
    let (status, text) = read_answer(&mut too_large).await;
    assert_eq!(status, 413, "only a signature could authenticate it: {text}");
}

#[tokio::test]
async fn signature_mode_without_a_usable_signing_secret_stops_the_start() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, data) = (text_of(&config_file(&sims, dir.path())), text_of(&dir.path().join("data")));
    let args = ["--config", config.as_str(), "--data-dir", data.as_str(), "--listen", "127.0.0.1:0"];
    for (mode, secret, expected) in [
        ("signature", None, "QALITA_GITLAB_WEBHOOK_SIGNING_SECRET"),
        ("both", Some("whsec_not-base64!"), "whsec_<base64>"),
        ("both", Some("  "), "whitespace"),
    ] {
        let mut env = vec![("QALITA_GITLAB_WEBHOOK_AUTH_MODE", mode)];
        if let Some(secret) = secret {
            env.push(("QALITA_GITLAB_WEBHOOK_SIGNING_SECRET", secret));
        }
        let mut serve = Process::serve_with_env(&args, true, &env);
        assert_eq!(serve.exit_code_within(Duration::from_secs(10)).await, Some(2), "{mode}: {}", serve.stderr());
        let stderr = serve.stderr();
        assert!(stderr.contains("webhook signing secret") && stderr.contains(expected), "{mode}: {stderr}");
    }
}
