import pytest

from local.stack import LocalStack


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    # The clocks `make dev` runs with: the dashboard is tried as its users meet it.
    with LocalStack(state_dir=tmp_path_factory.mktemp("web"), moto_port=0) as running:
        yield running
