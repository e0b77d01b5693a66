"""Writes <name>.jwk.json: the public JWK (no kid, no alg) of each committed key."""
import base64, json
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def int_bytes(i, size=None):
    size = size or (i.bit_length() + 7) // 8
    return i.to_bytes(size, "big")

for name in ["rsa", "rsa2", "ec256", "ec384", "ed25519"]:
    key = load_pem_public_key(open(f"{name}.pub.pem", "rb").read())
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        jwk = {"kty": "RSA", "n": b64(int_bytes(n.n)), "e": b64(int_bytes(n.e))}
    elif isinstance(key, ec.EllipticCurvePublicKey):
        n = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
        jwk = {"kty": "EC", "crv": crv, "x": b64(int_bytes(n.x, size)), "y": b64(int_bytes(n.y, size))}
    else:
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    with open(f"{name}.jwk.json", "w") as f:
        json.dump(jwk, f, indent=2)
        f.write("\n")
