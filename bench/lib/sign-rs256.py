#!/usr/bin/env python3
"""Optional fast signer for bench/lib/mint.pl: reads JWT signing inputs
(header.payload), one a line, on stdin and writes header.payload.signature
lines (RS256, PKCS#1 v1.5 with SHA-256) on stdout.  Needs the
"cryptography" package (Debian: python3-cryptography); mint.pl falls back
to Perl's Crypt::PK::RSA without it."""

import base64
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

with open(sys.argv[1], "rb") as f:
    key = serialization.load_pem_private_key(f.read(), None)

pad, sha = padding.PKCS1v15(), hashes.SHA256()
out = sys.stdout
for line in sys.stdin:
    s = line.strip()
    if not s:
        continue
    sig = base64.urlsafe_b64encode(key.sign(s.encode(), pad, sha)).rstrip(b"=")
    out.write(s + "." + sig.decode() + "\n")
