import pytest

from local.stack import LocalStack
from tests.local.stack_helpers import FAST


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("web"), moto_port=0, ingest=FAST) as running:
        yield running
