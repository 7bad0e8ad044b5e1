#!/usr/bin/env python3
"""Builds passport-webauthn.json from strategy.test.js (a byte-identical copy of
github.com/jaredhanson/passport-webauthn test/strategy.test.js at 69832b87ab132cd65fe4605ec11c71942fe718a4):
each `it(...)` case's request body values and the PEM public key it names, unchanged. Run from this
directory: `python3 extract.py > passport-webauthn.json`."""
import json, re

src = open("strategy.test.js").read()
blocks = re.split(r"\n  it\('", src)[1:]
cases = []
for block in blocks:
    name = block.split("'", 1)[0]
    def field(key):
        m = re.search(r'"?%s"?: ?(?:"([^"]*)"|\'([^\']*)\'|null)' % key, block)
        if not m:
            return None
        return m.group(1) if m.group(1) is not None else m.group(2)
    pem = "".join(re.findall(r"^'([A-Za-z0-9+/=]+)\\n' \+$", block, re.M))
    case = {
        "name": name,
        "rawId": field("rawId"),
        "clientDataJSON": field("clientDataJSON"),
        "attestationObject": field("attestationObject"),
        "authenticatorData": field("authenticatorData"),
        "signature": field("signature"),
        "userHandle": field("userHandle"),
        "publicKeySpkiBase64": pem or None,
    }
    if case["clientDataJSON"]:
        cases.append(case)
print(json.dumps({"source": "github.com/jaredhanson/passport-webauthn test/strategy.test.js @ 69832b87ab132cd65fe4605ec11c71942fe718a4 (MIT)", "cases": cases}, indent=1))
