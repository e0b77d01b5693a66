//! A private CA generated at test time (rcgen on aws-lc-rs), a server
//! certificate and a client certificate it signed, for the tests that run a
//! real TLS server on loopback (the fetcher's HTTPS server, a `rediss://`
//! redis-server, with or without client certificates).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA, one server certificate for `localhost` and `127.0.0.1`, and one
/// client certificate (for mutual TLS).
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
    /// A client certificate (PEM), for TLS client authentication.
    pub client_cert_pem: String,
    /// The client certificate's private key (PKCS#8, PEM).
    pub client_key_pem: String,
}

/// A fresh CA named `name`, and a server and a client certificate signed by it.
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
    let client_key = KeyPair::generate().expect("client key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
    client
        .distinguished_name
        .push(DnType::CommonName, "mcpguard test client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client
        .signed_by(&client_key, &issuer)
        .expect("client certificate");
    TestCa {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        cert_der: leaf.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}
