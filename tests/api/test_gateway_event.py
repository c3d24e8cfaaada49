"""The payload 2.0 event and the response mapping of the local gateway."""

import base64

from local.gateway import api_event, http_response, match_route


def test_routes_match_settings_with_path_parameters():
    assert match_route("GET", "/files/abc") == ("GET /files/{fileId}", {"fileId": "abc"})
    assert match_route("POST", "/uploads/a%20b/parts") == ("POST /uploads/{fileId}/parts", {"fileId": "a b"})
    assert match_route("PUT", "/files/abc") is None
    assert match_route("GET", "/files/") is None
    assert match_route("GET", "/nope") is None


def test_event_has_the_aws_shape():
    event = api_event(
        method="GET",
        path="/files",
        query="limit=2&tag=a&tag=b",
        headers=[("Host", "api.local"), ("X-Thing", "1"), ("x-thing", "2"), ("Cookie", "a=1; b=2"),
                 ("User-Agent", "test")],
        body=b"",
        claims={"sub": "u1", "exp": 1700000000, "cognito:groups": ["x", "y"], "scope": "s1 s2"},
        source_ip="10.0.0.1",
    )
    assert event["version"] == "2.0" and event["routeKey"] == "GET /files"
    assert event["rawPath"] == "/files" and event["rawQueryString"] == "limit=2&tag=a&tag=b"
    assert event["queryStringParameters"] == {"limit": "2", "tag": "a,b"}
    assert event["headers"] == {"host": "api.local", "x-thing": "1,2", "user-agent": "test"}
    assert event["cookies"] == ["a=1", "b=2"]
    context = event["requestContext"]
    assert context["authorizer"]["jwt"] == {
        "claims": {"sub": "u1", "exp": "1700000000", "cognito:groups": "[x y]", "scope": "s1 s2"},
        "scopes": ["s1", "s2"],
    }
    assert context["http"] == {"method": "GET", "path": "/files", "protocol": "HTTP/1.1",
                               "sourceIp": "10.0.0.1", "userAgent": "test"}
    assert context["stage"] == "$default" and context["routeKey"] == "GET /files"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_json_bodies_are_text_and_binary_bodies_base64():
    common = dict(method="POST", path="/uploads", query="", claims={"sub": "u"}, source_ip="1.1.1.1")
    text = api_event(headers=[("content-type", "application/json")], body=b'{"a":1}', **common)
    assert (text["body"], text["isBase64Encoded"]) == ('{"a":1}', False)
    binary = api_event(headers=[("content-type", "application/octet-stream")], body=b"\xff\x00", **common)
    assert (binary["body"], binary["isBase64Encoded"]) == (base64.b64encode(b"\xff\x00").decode(), True)


def test_function_responses_map_back_to_http():
    response = http_response({"statusCode": 201, "headers": {"Content-Type": "application/json"},
                              "cookies": ["a=1"], "body": "eyJ9", "isBase64Encoded": True})
    assert response.status == 201 and response.body == base64.b64decode("eyJ9")
    assert ("content-type", "application/json") in response.headers and ("set-cookie", "a=1") in response.headers
    bare = http_response({"ok": True})
    assert (bare.status, bare.body) == (200, b'{"ok": true}')
