import pytest

from contract.quotas import Quotas
from local.stack import LocalStack

MiB = 1024 * 1024
# Room for the largest moment of the run (two 17 MiB multipart uploads and a
# few small files), so a file of a few dozen MiB more is over the quota.
QUOTA_BYTES = 64 * MiB


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    # The clocks `make dev` runs with: the dashboard is tried as its users meet it.
    with LocalStack(state_dir=tmp_path_factory.mktemp("web"), moto_port=0,
                    quotas=Quotas(max_bytes=QUOTA_BYTES)) as running:
        yield running
