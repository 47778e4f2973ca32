//! Starts a real `flywheel` process on a free loopback port and builds an aws-sdk-dynamodb
//! client for it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::Client;

pub struct Flywheel {
    pub child: Child,
    pub port: u16,
}

impl Flywheel {
    /// An in-memory server.
    pub fn in_memory() -> Flywheel {
        Flywheel::start(&["--in-memory"])
    }

    /// A durable server over `dir`.
    pub fn on_disk(dir: &Path) -> Flywheel {
        Flywheel::start(&["--data-dir", dir.to_str().expect("utf-8 path")])
    }

    /// A server started with these arguments (plus `--listen` and `--log-level`).
    pub fn start(args: &[&str]) -> Flywheel {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_flywheel"))
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log-level", "warn", "--admin-listen", "off"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start flywheel");
        // Generous: a debug build on a busy machine may be slow to start; a passing run never waits it out.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "flywheel did not start listening");
            std::thread::sleep(Duration::from_millis(5));
        }
        Flywheel { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), "us-east-1")
    }

    /// An aws-sdk-dynamodbstreams client on the same endpoint.
    pub fn streams_client(&self) -> aws_sdk_dynamodbstreams::Client {
        let config = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .endpoint_url(self.endpoint())
            .http_client(http_client())
            .build();
        aws_sdk_dynamodbstreams::Client::from_conf(config)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Flywheel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client_for(endpoint: &str, region: &str) -> Client {
    client_with(endpoint, region, Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
}

/// A client signing with the given credentials.
pub fn client_with(endpoint: &str, region: &str, credentials: Credentials) -> Client {
    Client::from_conf(config_builder(endpoint, region, credentials).build())
}

/// The configuration every test client starts from, for tests that change more of it.
pub fn config_builder(endpoint: &str, region: &str, credentials: Credentials) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .http_client(http_client())
}

/// The SDK's own hyper client, with rustls on ring: the SDK's default HTTPS client (rustls on
/// aws-lc) is left out of the build to keep it small (see Cargo.toml). Speaks plain HTTP too.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Cheap deterministic pseudo-random numbers (xorshift64), one stream per seed: tests that
/// generate workloads stay repeatable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
