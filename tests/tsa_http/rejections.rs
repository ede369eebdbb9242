//! Area 2: rejections. Every kind of bad request gets its exact `failInfo` in an HTTP 200, a
//! wrong media type a 415, a GET a 405, an oversized body a 413, never a 5xx.

use std::io::{Read, Write};
use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use qtsp::pki::tsp::{PkiFailureInfo, TimeStampReq};
use x509_cert::ext::Extension;

use crate::interop::Files;
use crate::processes::{QUERY, REPLY, Server, post};
use crate::tokens::{Hash, granted, hand_built, rejected};

pub(crate) async fn rejections(server: &mut Server, client: &reqwest::Client, files: &Files) {
    let url = server.tsa_url();
    let (_, valid) = files.query("valid.tsq", &["-sha256", "-cert"]);
    let base = TimeStampReq::from_der(&valid).unwrap();

    let unknown_hash = hand_built(
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.2.1"),
        vec![0x11; 32],
        Some(1),
        true,
    );
    let sha512_with_32_bytes = hand_built(Hash::Sha512.oid(), vec![0x22; 32], Some(2), false);
    let sha256_with_20_bytes = hand_built(Hash::Sha256.oid(), vec![0x33; 20], None, true);
    let mut critical_extension = base.clone();
    critical_extension.extensions = Some(vec![Extension {
        extn_id: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.3.1"),
        critical: true,
        extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
    }]);
    let mut version_2 = base.clone();
    version_2.version = 2;

    let cases: Vec<(&str, Vec<u8>, PkiFailureInfo)> = vec![
        (
            "SHA-1 (openssl)",
            files.query("sha1.tsq", &["-sha1"]).1,
            PkiFailureInfo::BAD_ALG,
        ),
        (
            "MD5 (openssl)",
            files.query("md5.tsq", &["-md5"]).1,
            PkiFailureInfo::BAD_ALG,
        ),
        (
            "unknown hash OID",
            unknown_hash.to_der().unwrap(),
            PkiFailureInfo::BAD_ALG,
        ),
        (
            "SHA-512 with a 32-byte imprint",
            sha512_with_32_bytes.to_der().unwrap(),
            PkiFailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "SHA-256 with a 20-byte imprint",
            sha256_with_20_bytes.to_der().unwrap(),
            PkiFailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "reqPolicy 1.2.3.4 (openssl -tspolicy)",
            files
                .query("policy.tsq", &["-sha256", "-tspolicy", "1.2.3.4"])
                .1,
            PkiFailureInfo::UNACCEPTED_POLICY,
        ),
        (
            "critical unknown extension",
            critical_extension.to_der().unwrap(),
            PkiFailureInfo::UNACCEPTED_EXTENSION,
        ),
        (
            "version 2",
            version_2.to_der().unwrap(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        (
            "garbage",
            b"this is not a time-stamp request".to_vec(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        ("empty body", Vec::new(), PkiFailureInfo::BAD_REQUEST),
        (
            "truncated request",
            valid[..valid.len() - 7].to_vec(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        (
            "request and a trailing byte",
            [valid.as_slice(), &[0x00]].concat(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        (
            "100 kB body (under the HTTP limit, over the request limit)",
            vec![0x30; 100_000],
            PkiFailureInfo::BAD_REQUEST,
        ),
    ];
    for (what, body, expected) in cases {
        let answer = post(client, &url, Some(QUERY), body).await;
        assert_eq!(answer.status, 200, "{what}:\n{}", server.log());
        assert_eq!(answer.content_type, REPLY, "{what}");
        let (fail_info, text) = rejected(&answer.body);
        assert_eq!(fail_info, expected, "{what}: {text}");
        assert!(text.starts_with("TSA1"), "{what}: {text}");
    }

    // Not labelled application/timestamp-query: 415, with a TimeStampResp saying badRequest.
    for content_type in [Some("text/plain"), Some("application/octet-stream"), None] {
        let answer = post(client, &url, content_type, valid.clone()).await;
        assert_eq!(answer.status, 415, "{content_type:?}");
        assert_eq!(answer.content_type, REPLY, "{content_type:?}");
        let (fail_info, text) = rejected(&answer.body);
        assert_eq!(
            fail_info,
            PkiFailureInfo::BAD_REQUEST,
            "{content_type:?}: {text}"
        );
    }
    // Media type parameters and case are ignored.
    let answer = post(
        client,
        &url,
        Some("Application/TimeStamp-Query; charset=binary"),
        valid.clone(),
    )
    .await;
    assert_eq!(answer.status, 200);
    granted(&answer.body);

    // GET is not a time-stamp request.
    let get = client.get(&url).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);

    // A body over the server's limit (1 MiB by default) is refused from its announced length.
    let head = {
        let mut socket = std::net::TcpStream::connect(server.public).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        socket
            .write_all(
                format!(
                    "POST /tsa HTTP/1.1\r\nHost: qtsp\r\nContent-Type: {QUERY}\r\n\
                     Content-Length: {}\r\n\r\n",
                    2 << 20
                )
                .as_bytes(),
            )
            .unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    };
    assert_eq!(head, "HTTP/1.1 413", "{head}");

    // Still alive and still stamping.
    server.assert_running();
    let answer = post(client, &url, Some(QUERY), valid).await;
    assert_eq!(answer.status, 200);
    granted(&answer.body);
}
