"""evidence.checkpoint: C2SP signed-note checkpoints, with the spec's and Go's published known answers."""

from __future__ import annotations

import base64
import hashlib

import pytest

from evidence import errors
from evidence.checkpoint import (
    Checkpoint,
    NoteSignature,
    SigningKey,
    generate_key,
    key_id,
    open_checkpoint,
    open_note,
    parse_note,
    parse_signing_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
)
from evidence.merkle import EMPTY_ROOT, leaf_hash, root

# golang.org/x/mod/sumdb/note, note_test.go (TestSign, TestOpen)
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
# c2sp.org/signed-note, "Verifier keys / Example"
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# c2sp.org/tlog-checkpoint: the example checkpoint (its public key is not published: format only)
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+"
    "xeMcTOAYQ8=\n"
)


# --- known answers -----------------------------------------------------------------------------------------


def test_go_known_answer_sign_and_open() -> None:
    key = parse_signing_key(PETER_SKEY)
    assert key.name == "PeterNeumann"
    assert key.encode() == PETER_SKEY
    assert key.verifier.encode() == PETER_VKEY == str(parse_verifier_key(PETER_VKEY))
    assert key.verifier.key_id.hex() == "c74f20a3"
    assert "AYEKF" not in repr(key)  # the secret stays out of logs
    # Ed25519 is deterministic: the very bytes Go's test expects
    assert sign_note(PETER_TEXT, key) == PETER_TEXT + "\n" + PETER_SIG
    assert open_note(PETER_TEXT + "\n" + PETER_SIG, parse_verifier_key(PETER_VKEY)) == PETER_TEXT


def test_go_known_answer_a_second_signature_by_another_key_is_ignored() -> None:
    both = PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(both, parse_verifier_key(PETER_VKEY)) == PETER_TEXT
    assert open_note(both, parse_verifier_key(ENOCH_VKEY)) == PETER_TEXT
    text, sigs = parse_note(both)
    assert text == PETER_TEXT
    assert [(s.name, s.key_id.hex()) for s in sigs] == [("PeterNeumann", "c74f20a3"), ("EnochRoot", "af0cfe78")]


def test_c2sp_known_answers() -> None:
    vkey = parse_verifier_key(C2SP_VKEY)
    assert vkey.encode() == C2SP_VKEY
    assert open_note(C2SP_NOTE, vkey) == "This is an example message.\n"
    text, (sig,) = parse_note(C2SP_CHECKPOINT)
    checkpoint = Checkpoint.parse(text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.body() == text
    assert sig.name == "example.com/behind-the-sofa" and len(sig.signature) == 64


def test_the_key_id_is_the_specs_construction() -> None:
    vkey = parse_verifier_key(PETER_VKEY)
    assert key_id(vkey.name, vkey.public_key) == hashlib.sha256(b"PeterNeumann\n\x01" + vkey.public_key).digest()[:4]


# --- round trips and tampering -----------------------------------------------------------------------------

ORIGIN = "evidence.example/custody"


def _checkpoint(size: int = 3, extensions: tuple[str, ...] = ()) -> Checkpoint:
    return Checkpoint(ORIGIN, size, root([leaf_hash(b"%d" % i) for i in range(size)]), extensions)


def test_round_trip() -> None:
    key = generate_key(ORIGIN)
    for cp in (_checkpoint(), _checkpoint(0), _checkpoint(1_000_000, ("time 2025-01-02T03:04:05Z",))):
        note = sign_checkpoint(cp, key)
        assert note.startswith(cp.body() + "\n— " + ORIGIN + " ")
        assert open_checkpoint(note, key.verifier) == cp
        assert open_checkpoint(note.encode(), key.verifier, origin=ORIGIN) == cp
    assert _checkpoint(0).root_hash == EMPTY_ROOT
    assert _checkpoint(0).body() == f"{ORIGIN}\n0\n{base64.b64encode(EMPTY_ROOT).decode()}\n"
    # keys survive their string forms
    again = parse_signing_key(key.encode())
    assert again.verifier == key.verifier == parse_verifier_key(key.verifier.encode())
    assert open_checkpoint(sign_checkpoint(_checkpoint(), again), key.verifier) == _checkpoint()


def test_a_tampered_body_is_a_bad_signature() -> None:
    key = generate_key(ORIGIN)
    note = sign_checkpoint(_checkpoint(5), key)
    body, _, sig = note.partition("\n\n")
    other_root = base64.b64encode(_checkpoint(4).root_hash).decode()
    for changed in (
        body.replace("\n5\n", "\n4\n"),  # a truncated log
        body.replace("\n5\n", "\n6\n"),
        body.replace(base64.b64encode(_checkpoint(5).root_hash).decode(), other_root),
        body.replace(ORIGIN, "evidence.example/other"),
        body + "\nextension",
    ):
        with pytest.raises(errors.BadSignature):
            open_checkpoint(changed + "\n\n" + sig, key.verifier)


def test_a_tampered_signature_is_a_bad_signature() -> None:
    key = generate_key(ORIGIN)
    text, (sig,) = parse_note(sign_checkpoint(_checkpoint(), key))
    for i in (0, 31, 63):
        flipped = bytearray(sig.signature)
        flipped[i] ^= 0x01
        note = text + "\n" + NoteSignature(sig.name, sig.key_id, bytes(flipped)).line()
        with pytest.raises(errors.BadSignature):
            open_checkpoint(note, key.verifier)
    # a known key's failing signature rejects the note even when another good one is there
    note = text + "\n" + NoteSignature(sig.name, sig.key_id, bytes(64)).line() + sig.line()
    with pytest.raises(errors.BadSignature):
        open_note(note, key.verifier)


def test_another_key_or_another_name_is_an_unknown_key() -> None:
    key, other = generate_key(ORIGIN), generate_key(ORIGIN)
    note = sign_checkpoint(_checkpoint(), key)
    with pytest.raises(errors.UnknownKey):
        open_checkpoint(note, other.verifier)  # same name, another key (so another key ID)
    text, (sig,) = parse_note(note)
    renamed = text + "\n" + NoteSignature("evidence.example/other", sig.key_id, sig.signature).line()
    with pytest.raises(errors.UnknownKey):
        open_checkpoint(renamed, key.verifier)
    with pytest.raises(errors.UnknownKey):
        open_note(C2SP_NOTE, parse_verifier_key(PETER_VKEY))
    # every one of these is a custody failure to the callers that catch that
    assert issubclass(errors.UnknownKey, errors.CustodyBroken)


def test_the_origin_can_be_required() -> None:
    key = generate_key(ORIGIN)
    with pytest.raises(errors.NoteMalformed):
        open_checkpoint(sign_checkpoint(_checkpoint(), key), key.verifier, origin="evidence.example/other")


@pytest.mark.parametrize(
    "note",
    [
        "",
        "no newline at the end",
        "text\n",  # no signatures
        "text\n\n",  # a blank line, then nothing
        "text\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ=\n",  # no blank line before the signatures
        "text\n\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ=\n",  # a hyphen, not an em dash
        "text\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ=",  # no final newline
        "text\n\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQ=\n",  # a plus in the name
        "text\n\n— x08go/ZJkuBS9UG/SffcvIAQ=\n",  # no name
        "text\n\n— PeterNeumann not*base64\n",
        "text\n\n— PeterNeumann x08go/Z=\n",  # not canonical base64
        "text\n\n— PeterNeumann x08g\n",  # a key ID and no signature
        "te\txt\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ=\n",  # a control character
        "text\n\n" + "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ=\n" * 101,  # too many signatures
    ],
)
def test_a_malformed_note(note: str) -> None:
    with pytest.raises(errors.NoteMalformed):
        open_note(note, parse_verifier_key(PETER_VKEY))


def test_a_note_that_is_not_utf8() -> None:
    with pytest.raises(errors.NoteMalformed):
        parse_note(b"\xff\xfe\n\n" + PETER_SIG.encode())


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n3\n",  # no root
        f"{ORIGIN}\n03\n{base64.b64encode(EMPTY_ROOT).decode()}\n",  # a leading zero
        f"{ORIGIN}\n-3\n{base64.b64encode(EMPTY_ROOT).decode()}\n",
        f"{ORIGIN}\nthree\n{base64.b64encode(EMPTY_ROOT).decode()}\n",
        f"{ORIGIN}\n3\n{base64.b64encode(EMPTY_ROOT[:31]).decode()}\n",  # a short root
        f"{ORIGIN}\n3\nnot base64\n",
        f"\n3\n{base64.b64encode(EMPTY_ROOT).decode()}\n",  # no origin
        f"{ORIGIN}\n3\n{base64.b64encode(EMPTY_ROOT).decode()}\n\nafter an empty line\n",
        f"{ORIGIN}\n3\n{base64.b64encode(EMPTY_ROOT).decode()}",  # no final newline
    ],
)
def test_a_malformed_checkpoint_body_signed_by_the_right_key(text: str) -> None:
    key = generate_key(ORIGIN)
    note = (text if text.endswith("\n") else text + "\n") + "\n"
    sig = NoteSignature(key.name, key.verifier.key_id, key.sign(note[:-1].encode())).line()
    with pytest.raises(errors.NoteMalformed):
        if text.endswith("\n"):
            open_checkpoint(note + sig, key.verifier)
        else:
            Checkpoint.parse(text)


def test_a_checkpoint_cannot_be_built_wrong() -> None:
    for origin, size, root_hash, ext in (
        ("", 0, EMPTY_ROOT, ()),
        ("a\nb", 0, EMPTY_ROOT, ()),
        (ORIGIN, -1, EMPTY_ROOT, ()),
        (ORIGIN, 0, b"short", ()),
        (ORIGIN, 0, EMPTY_ROOT, ("",)),
        (ORIGIN, 0, EMPTY_ROOT, ("two\nlines",)),
    ):
        with pytest.raises(errors.NoteMalformed):
            Checkpoint(origin, size, root_hash, ext)
    with pytest.raises(errors.NoteMalformed):
        sign_note("no final newline", generate_key(ORIGIN))


# --- keys --------------------------------------------------------------------------------------------------


def test_every_mangling_of_a_verifier_key_is_refused() -> None:
    """As Go's TestNewVerifier: every proper substring and every one-byte change of the key string."""
    parse_verifier_key(PETER_VKEY)
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(errors.KeyMalformed):
                    parse_verifier_key(b[i:j])
    for i in range(len(b)):
        with pytest.raises(errors.KeyMalformed):
            parse_verifier_key(b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :])
    # Go's two extra cases: a wrong-length key and an unknown algorithm, each with a matching key ID
    with pytest.raises(errors.KeyMalformed):
        parse_verifier_key("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(errors.KeyMalformed):
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_every_mangling_of_a_signing_key_is_refused() -> None:
    b = PETER_SKEY
    for i in range(len(b)):
        changed = b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :]
        with pytest.raises(errors.KeyMalformed):
            parse_signing_key(changed)
    for cut in range(1, len(b)):
        with pytest.raises(errors.KeyMalformed):
            parse_signing_key(b[:cut])
    with pytest.raises(errors.KeyMalformed):
        parse_signing_key(PETER_VKEY)  # a public key where the private one belongs


@pytest.mark.parametrize("name", ["", "with space", "a+b", "tab\there", "line\nbreak", "nbsp\u00a0"])
def test_a_key_name_must_be_plain(name: str) -> None:
    with pytest.raises(errors.KeyMalformed):
        generate_key(name)


def test_keys_are_fresh_and_typed() -> None:
    a, b = generate_key(ORIGIN), generate_key(ORIGIN)
    assert a.verifier.public_key != b.verifier.public_key
    assert isinstance(a, SigningKey) and len(a.seed) == 32 and len(a.verifier.public_key) == 32
    assert issubclass(errors.KeyMalformed, errors.InvalidInput)
