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
