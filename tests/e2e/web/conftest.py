import pytest
import requests

from contract.quotas import Quotas
from local import cognito
from local.stack import LocalStack

MiB = 1024 * 1024
# Room for the largest moment of a test (two 17 MiB multipart uploads and a
# few small files), so a file of a few dozen MiB more is over the quota.
QUOTA_BYTES = 64 * MiB


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    # The clocks `make dev` runs with: the dashboard is tried as its users meet it.
    with LocalStack(state_dir=tmp_path_factory.mktemp("web"), moto_port=0,
                    quotas=Quotas(max_bytes=QUOTA_BYTES)) as running:
        yield running


@pytest.fixture(autouse=True)
def empty_account(request):
    """Each browser test starts with none of the demo user's files, so one that
    stops halfway leaves nothing in the next one's list or quota."""
    if "stack" not in request.fixturenames:
        return
    stack = request.getfixturevalue("stack")
    tokens = cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"],
                             stack.outputs["demoUser"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tokens['AccessToken']}"
    api = stack.outputs["apiUrl"]
    while items := session.get(f"{api}/files", params={"limit": 100}, timeout=30).json()["items"]:
        for item in items:
            session.delete(f"{api}/files/{item['fileId']}", timeout=30).raise_for_status()
