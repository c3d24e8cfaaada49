"""One local stack for the API's end-to-end tests, driven over real HTTP."""

from __future__ import annotations

import pytest
import requests

from local import cognito
from local.stack import LocalStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("api-stack"), moto_port=0, api_port=0) as running:
        yield running


@pytest.fixture(scope="session")
def tokens(stack) -> dict[str, str]:
    return cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"], stack.outputs["demoUser"])


class Api:
    """A client of the HTTP API, as the dashboard is one."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def api(stack, tokens) -> Api:
    return Api(stack.outputs["apiUrl"], tokens["AccessToken"])
