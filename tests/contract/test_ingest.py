import pytest

from contract.ingest import MB_PER_VCPU, IngestSettings


@pytest.mark.parametrize("memory_mb", [128, 320, 1024, 1769, 3008, 10240])
def test_a_full_batch_of_files_that_spend_their_cpu_budgets_fits_the_timeout_on_the_cpu_the_memory_buys(memory_mb):
    settings = IngestSettings(worker_memory_mb=memory_mb)
    # One extraction is one process: it never uses more than one vCPU.
    vcpus = min(memory_mb / MB_PER_VCPU, settings.extraction_slots)
    assert settings.batch_size * settings.extract_cpu_seconds / vcpus <= 0.8 * settings.worker_timeout_s


@pytest.mark.parametrize("memory_mb", [128, 1024, 1769, 3008])
def test_a_file_alone_can_spend_its_whole_cpu_budget_within_its_time_budget(memory_mb):
    settings = IngestSettings(worker_memory_mb=memory_mb)
    alone = min(1.0, memory_mb / MB_PER_VCPU)
    assert settings.extract_seconds * alone == pytest.approx(settings.extract_cpu_seconds)


@pytest.mark.parametrize("memory_mb", [127, 10241])
def test_a_memory_size_lambda_does_not_offer_is_refused(memory_mb):
    with pytest.raises(ValueError, match="worker_memory_mb"):
        IngestSettings(worker_memory_mb=memory_mb)
