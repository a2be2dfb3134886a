"""Media routes (proxy, poster, original) under RFC 9110: HEAD, ETag, Last-Modified and If-Range."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.ranges import http_date
from evidence.models import Item
from evidence.unit_of_work import transaction
from tests.api.conftest import events, stored

MEDIA = {
    "proxy": ("proxy_key", "/proxy"),
    "poster": ("poster_key", "/poster"),
    "original": ("object_key", "/original?reason=case+review"),
}
SAME = (
    "content-length",
    "content-type",
    "etag",
    "last-modified",
    "accept-ranges",
    "cache-control",
    "content-range",
    "x-evidence-sha256",
    "repr-digest",
    "content-disposition",
)


def _stored_at(world, item):
    with transaction(world["rt"].sessions) as session:
        return session.get(Item, item).stored_at


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
def test_head_answers_the_headers_of_get_without_reading_the_body(world, monkeypatch):
    client, item = world["clients"]["rev1"], world["ids"]["a"]
    store = world["app"].state.services.store
    answers = {}
    for media, (_, tail) in MEDIA.items():
        url = f"/api/v1/items/{item}{tail}"
        for headers in ({}, {"Range": "bytes=10-99"}, {"Range": "bytes=-7"}):
            answers[media, str(headers)] = client.get(url, headers=headers)
    before = {kind: len(events(world["rt"], item, kind)) for kind in ("media_viewed", "original_downloaded")}

    def no_body(*args, **kwargs):
        raise AssertionError("HEAD read the body from the store")

    monkeypatch.setattr(store, "iter_chunks", no_body)
    for media, (_, tail) in MEDIA.items():
        url = f"/api/v1/items/{item}{tail}"
        for headers in ({}, {"Range": "bytes=10-99"}, {"Range": "bytes=-7"}):
            got, head = answers[media, str(headers)], client.head(url, headers=headers)
            assert head.status_code == got.status_code and head.status_code in (200, 206), (media, headers)
            assert head.content == b""
            assert {h: head.headers.get(h) for h in SAME} == {h: got.headers.get(h) for h in SAME}, (media, headers)
    # no bytes flowed: a HEAD is neither a view nor a download
    assert {kind: len(events(world["rt"], item, kind)) for kind in before} == before


def test_head_is_authorised_like_get_and_refusals_are_logged(world):
    item, clients = world["ids"]["a"], world["clients"]
    assert clients["aud"].head(f"/api/v1/items/{item}/proxy").status_code == 403
    assert clients["off2"].head(f"/api/v1/items/{item}/poster").status_code == 404
    assert clients["off1"].head(f"/api/v1/items/{item}/original?reason=case+review").status_code == 403
    assert clients["rev1"].head(f"/api/v1/items/{item}/original").status_code == 422, "a reason, as for GET"
    assert clients["rev1"].head(f"/api/v1/items/{item}/proxy", headers={"Authorization": ""}).status_code == 401
    denied = events(world["rt"], item, "access_denied")
    assert sorted(e.agent.split(";")[0] for e in denied) == ["user=aud", "user=off1", "user=off2"]


def test_validators_are_sent_and_stable(world):
    client, item = world["clients"]["rev1"], world["ids"]["a"]
    modified = http_date(_stored_at(world, item))
    for media, (_, tail) in MEDIA.items():
        first = client.get(f"/api/v1/items/{item}{tail}")
        again = client.get(f"/api/v1/items/{item}{tail}")
        assert first.headers["last-modified"] == again.headers["last-modified"] == modified, media
        assert first.headers["etag"] == again.headers["etag"] and first.headers["etag"].startswith('"'), media
        assert first.headers["cache-control"] == "private, no-store", media


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
@pytest.mark.parametrize("media", sorted(MEDIA))
def test_if_range_serves_the_range_only_for_the_current_representation(world, media):
    client, item = world["clients"]["rev1"], world["ids"]["a"]
    column, tail = MEDIA[media]
    body = stored(world["rt"], item, column)
    url = f"/api/v1/items/{item}{tail}"
    etag = client.get(url).headers["etag"]
    stored_at = _stored_at(world, item)
    current = {
        "the ETag": etag,
        "Last-Modified": http_date(stored_at),
        "Last-Modified, RFC 850 form": stored_at.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
        "Last-Modified, asctime form": stored_at.strftime("%a %b %e %H:%M:%S %Y"),
    }
    for what, validator in current.items():
        r = client.get(url, headers={"Range": "bytes=5-20", "If-Range": validator})
        assert r.status_code == 206 and r.content == body[5:21], what
    stale = {
        "another ETag": '"0000-stale"',
        "the ETag, weak": f"W/{etag}",  # If-Range compares strongly: a weak tag never matches
        "the ETag, unquoted": etag.strip('"'),
        "an earlier date": http_date(stored_at - timedelta(seconds=1)),
        "a later date": http_date(stored_at + timedelta(days=1)),
        "not a validator": "yesterday",
    }
    for what, validator in stale.items():
        r = client.get(url, headers={"Range": "bytes=5-20", "If-Range": validator})
        assert r.status_code == 200 and r.content == body, what
        assert "content-range" not in r.headers and int(r.headers["content-length"]) == len(body), what
        head = client.head(url, headers={"Range": "bytes=5-20", "If-Range": validator})
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(body), what
    # a range past the end with a stale validator: the whole representation, not 416
    r = client.get(url, headers={"Range": f"bytes={len(body) + 10}-", "If-Range": '"0000-stale"'})
    assert r.status_code == 200 and r.content == body
    r = client.get(url, headers={"Range": f"bytes={len(body) + 10}-", "If-Range": etag})
    assert r.status_code == 416
    assert client.get(url, headers={"If-Range": etag}).status_code == 200, "If-Range without Range: ignored"
