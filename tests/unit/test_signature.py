import json
from urllib.parse import urlencode

from tests.support import DATA
from wahub.webhook import signature
from wahub.webhook.signature import meta_signature, verify_meta

BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_valid_signature_is_accepted() -> None:
    assert verify_meta(["s3cret"], BODY, meta_signature("s3cret", BODY))


def test_any_configured_secret_may_match() -> None:
    assert verify_meta(["other", "s3cret"], BODY, meta_signature("s3cret", BODY))


def test_tampered_body_is_refused() -> None:
    assert not verify_meta(["s3cret"], BODY + b" ", meta_signature("s3cret", BODY))


def test_wrong_secret_missing_header_and_bad_shapes_are_refused() -> None:
    good = meta_signature("s3cret", BODY)
    for header in (None, "", good.removeprefix("sha256="), "sha1=" + good[7:], "sha256=zz", good[:-2]):
        assert not verify_meta(["s3cret"], BODY, header), header
    assert not verify_meta(["wrong"], BODY, good)
    assert not verify_meta([], BODY, good)


def test_signature_matches_metas_documented_form() -> None:
    # HMAC-SHA256 hex of the raw body with the app secret, prefixed "sha256=" (computed independently).
    import hashlib
    import hmac

    expected = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert meta_signature("s3cret", BODY) == expected


def test_prepared_keys_compute_hmac_sha256_for_keys_of_every_length() -> None:
    # MetaKey hashes the padded key once (RFC 2104); keys longer than SHA-256's block are hashed first.
    import hashlib
    import hmac

    for secret in ("k", "s3cret", "x" * 63, "y" * 64, "z" * 65, "é" * 40, "w" * 200):
        for body in (b"", BODY, BODY * 50):
            assert signature.MetaKey(secret).digest(body) == hmac.new(secret.encode(), body, hashlib.sha256).digest()


def test_signature_hex_is_taken_in_either_case_and_with_spaces_around_only() -> None:
    good = meta_signature("s3cret", BODY)
    assert verify_meta(["s3cret"], BODY, "sha256=" + good[7:].upper())
    assert verify_meta(["s3cret"], BODY, good + " ")
    assert not verify_meta(["s3cret"], BODY, "sha256=" + good[7:9] + " " + good[10:])


def test_twilio_signer_names_the_token_that_signed_twilios_published_example() -> None:
    vector = json.loads((DATA / "twilio-signature.json").read_text())
    body = urlencode(vector["params"]).encode()
    tokens = ["another-token", vector["auth_token"]]
    assert signature.twilio_signer(tokens, vector["url"], body, vector["signature"]) == 1
    assert signature.twilio_signer(["another-token"], vector["url"], body, vector["signature"]) is None
    assert signature.twilio_signer(tokens, vector["url"].replace("foo=1", "foo=9"), body, vector["signature"]) is None
    assert signature.twilio_signer(tokens, vector["url"], body + b"&Digits=9", vector["signature"]) is None
    assert signature.twilio_signer(tokens, vector["url"], body, None) is None
    assert signature.twilio_signer(tokens, vector["url"], b"\xff\xfe", vector["signature"]) is None
