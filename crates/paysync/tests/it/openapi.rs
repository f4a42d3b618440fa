//! The management API's contract: the OpenAPI document paysync serves validates
//! (openapi-spec-validator), and schemathesis, generating requests from it (examples, coverage,
//! fuzzing and stateful phases), finds no server error, no status, content type or body outside
//! the document, and no request the document forbids that is accepted. Not checked: that every
//! request the document allows is accepted — a sync naming a destination that does not exist is
//! well-formed and still refused (422), which a schema cannot say.

use std::process::Command;

use crate::harness::*;
use crate::operator::{API_TOKEN, operator_paysync};

#[test]
fn the_openapi_document_validates_and_schemathesis_finds_no_server_error() {
    let paysync = operator_paysync("http://127.0.0.1:9");
    let _server = paysync.serve();
    let python = schemathesis_python();
    let bearer = format!("Authorization: Bearer {API_TOKEN}");
    let document = http::blocking_client()
        .get(paysync.url("/api/openapi.json"))
        .header("authorization", &format!("Bearer {API_TOKEN}"))
        .send()
        .expect("the document");
    assert_eq!(document.status, 200);
    let path = paysync.dir.path().join("openapi.json");
    std::fs::write(&path, &document.body).unwrap();
    let validated = Command::new(&python)
        .args([
            "-c",
            "import json, sys; from openapi_spec_validator import validate; \
             validate(json.load(open(sys.argv[1]))); print('valid')",
        ])
        .arg(&path)
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );

    let schemathesis = python.with_file_name("schemathesis");
    let run = Command::new(&schemathesis)
        .arg("run")
        .arg(paysync.url("/api/openapi.json"))
        .args(["-H", &bearer])
        .args(["--max-examples", "20", "--seed", "20261204"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    assert!(!paysync.serve_log().contains("panicked"));
}
