//! Authentication, authorisation and TLS through aws-sdk-dynamodb, against a server started
//! with `--credentials` (and `--tls-cert`/`--tls-key`). Each test pins what DynamoDB answers
//! a Rust application whose keys are wrong, unknown or not allowed to do something.

use crate::common;

use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use common::{client_with, Flywheel};

const ADMIN: &str = "AKIDADMIN";
const ADMIN_SECRET: &str = "admin-secret";
const READER: &str = "AKIDREADER";
const READER_SECRET: &str = "reader-secret";

/// An administrator with no policy (everything allowed) and a reader that may only read.
const CREDENTIALS: &str = r#"{
  "AKIDADMIN": { "secret_access_key": "admin-secret" },
  "AKIDREADER": {
    "secret_access_key": "reader-secret",
    "allow": [
      { "actions": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Describe*"],
        "resources": ["arn:aws:dynamodb:*:*:table/*"] }
    ]
  }
}"#;

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn verified_server(dir: &Path) -> Flywheel {
    let credentials = write(dir, "credentials.json", CREDENTIALS);
    Flywheel::start(&["--in-memory", "--credentials", credentials.to_str().unwrap()])
}

fn key(id: &str, secret: &str) -> Credentials {
    Credentials::new(id, secret, None, None, "test")
}

async fn create_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .expect("create table");
}

#[tokio::test]
async fn correct_credentials_work_and_session_tokens_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let fw = verified_server(dir.path());
    let admin = client_with(&fw.endpoint(), "us-east-1", key(ADMIN, ADMIN_SECRET));
    create_table(&admin, "music").await;
    admin.put_item().table_name("music").item("pk", AttributeValue::S("a".into())).send().await.unwrap();
    let got = admin.get_item().table_name("music").key("pk", AttributeValue::S("a".into())).send().await.unwrap();
    assert!(got.item().is_some());
    // Temporary credentials sign with X-Amz-Security-Token; the token is signed, not validated.
    let with_token = client_with(
        &fw.endpoint(),
        "us-east-1",
        Credentials::new(ADMIN, ADMIN_SECRET, Some("session-token".into()), None, "test"),
    );
    assert_eq!(with_token.list_tables().send().await.unwrap().table_names(), ["music"]);
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature() {
    let dir = tempfile::tempdir().unwrap();
    let fw = verified_server(dir.path());
    let client = client_with(&fw.endpoint(), "us-east-1", key(ADMIN, "not-the-secret"));
    let e = client.list_tables().send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"));
    assert_eq!(
        e.message(),
        Some(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
             Access Key and signing method. Consult the service documentation for details."
        )
    );
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
}

#[tokio::test]
async fn an_unknown_access_key_is_an_unrecognized_client() {
    let dir = tempfile::tempdir().unwrap();
    let fw = verified_server(dir.path());
    let client = client_with(&fw.endpoint(), "us-east-1", key("AKIDNOBODY", ADMIN_SECRET));
    let e = client.list_tables().send().await.unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"));
    assert_eq!(e.message(), Some("The security token included in the request is invalid."));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
}

#[tokio::test]
async fn a_read_only_key_reads_but_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let fw = verified_server(dir.path());
    let admin = client_with(&fw.endpoint(), "eu-west-1", key(ADMIN, ADMIN_SECRET));
    create_table(&admin, "books").await;
    admin.put_item().table_name("books").item("pk", AttributeValue::S("b".into())).send().await.unwrap();

    let reader = client_with(&fw.endpoint(), "eu-west-1", key(READER, READER_SECRET));
    let got = reader.get_item().table_name("books").key("pk", AttributeValue::S("b".into())).send().await.unwrap();
    assert!(got.item().is_some());
    let queried = reader
        .query()
        .table_name("books")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("b".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(queried.count(), 1);
    reader.describe_table().table_name("books").send().await.unwrap();

    let e = reader.put_item().table_name("books").item("pk", AttributeValue::S("c".into())).send().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert_eq!(
        e.message(),
        Some(
            "User: arn:aws:iam::000000000000:user/AKIDREADER is not authorized to perform: dynamodb:PutItem on resource: \
             arn:aws:dynamodb:eu-west-1:000000000000:table/books because no identity-based policy allows the \
             dynamodb:PutItem action"
        )
    );
    // Nothing was written.
    let missing = admin.get_item().table_name("books").key("pk", AttributeValue::S("c".into())).send().await.unwrap();
    assert!(missing.item().is_none());
    // ListTables is not in the reader's policy either; its resource is `*`.
    let e = reader.list_tables().send().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert = write(dir.path(), "cert.pem", &cert_pem);
    let key_file = write(dir.path(), "key.pem", &certified.signing_key.serialize_pem());
    let credentials = write(dir.path(), "credentials.json", CREDENTIALS);
    let fw = Flywheel::start(&[
        "--in-memory",
        "--credentials",
        credentials.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ]);
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(
                    TrustStore::empty().with_native_roots(false).with_pem_certificate(cert_pem.into_bytes()),
                )
                .build()
                .unwrap(),
        )
        .build_https();
    let endpoint = format!("https://localhost:{}", fw.port);
    let config =
        common::config_builder(&endpoint, "us-east-1", key(ADMIN, ADMIN_SECRET)).http_client(http_client).build();
    let client = Client::from_conf(config);
    create_table(&client, "secure").await;
    assert_eq!(client.list_tables().send().await.unwrap().table_names(), ["secure"]);

    // Plain HTTP to the TLS port gets no answer a client could mistake for DynamoDB's.
    let plain = client_with(&format!("http://127.0.0.1:{}", fw.port), "us-east-1", key(ADMIN, ADMIN_SECRET));
    assert!(plain.list_tables().send().await.is_err());
}
