#!/bin/sh
# Generates the committed test keys once. Re-running replaces them, which
# invalidates every committed vector token: regenerate the vectors afterwards
# (cargo run -p mcpguard-testkit --bin generate-vectors).
set -eu
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem
openssl genpkey -algorithm ED25519 -out ed25519.pem
for k in rsa rsa2 ec256 ec384 ed25519; do
  openssl pkey -in "$k.pem" -pubout -out "$k.pub.pem"
done
# 64 random bytes, base64url without padding: the HMAC secret (long enough for HS512).
openssl rand 64 | basenc --base64url | tr -d '=\n' > hmac.key
python3 jwk.py
