//! A private CA generated at test time (rcgen on aws-lc-rs) and a server
//! certificate it signed, for the tests that run a real TLS server on
//! loopback (the fetcher's HTTPS server, a `rediss://` redis-server).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA and one server certificate for `localhost` and `127.0.0.1`.
pub struct TestCa {
    /// The CA's certificate (PEM): what a client is told to trust.
    pub ca_pem: String,
    /// The server's certificate (PEM and DER).
    pub cert_pem: String,
    /// The server's certificate, DER.
    pub cert_der: Vec<u8>,
    /// The server's private key (PKCS#8, PEM).
    pub key_pem: String,
    /// The server's private key (PKCS#8, DER).
    pub key_der: Vec<u8>,
}

/// A fresh CA named `name` and a server certificate signed by it.
pub fn test_ca(name: &str) -> TestCa {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    TestCa {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        cert_der: leaf.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}
