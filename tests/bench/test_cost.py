"""The cost model's arithmetic, on usage chosen so each line is known by hand."""

from bench import prices
from bench.cost import Usage, per_million
from contract import functions
from contract.ingest import INGEST

NOTHING = Usage(worker_ms=0, api_ms=0, worker_requests=0, api_requests=0, sqs_requests=0, s3_put=0, s3_get=0,
                write_units=0, read_units=0, log_bytes=0, stored_bytes=0)


def _only(**usage) -> dict:
    return per_million(Usage(**{**NOTHING.__dict__, **usage}))


def test_the_worker_pays_its_milliseconds_at_its_configured_memory_on_arm():
    second = _only(worker_ms=1000)["lambda_worker"]
    assert second == round(INGEST.worker_memory_mb / 1024 * prices.LAMBDA_ARM_GB_SECOND.usd * 1e6, 4)
    assert _only(api_ms=1000)["lambda_api"] == round(functions.API.memory_mb / 1024
                                                     * prices.LAMBDA_ARM_GB_SECOND.usd * 1e6, 4)


def test_a_batch_shares_one_request_among_its_files():
    assert _only(worker_requests=1 / 10)["lambda_worker"] == round(prices.LAMBDA_REQUEST.usd * 1e6 / 10, 4)


def test_s3_writes_cost_more_than_reads_and_storage_stays_out_of_the_total():
    writes, reads = _only(s3_put=1), _only(s3_get=1)
    assert writes["s3_requests"] == 5.0 and reads["s3_requests"] == 0.4
    kept = _only(stored_bytes=1e9 / 1e6)
    assert kept["total"] == 0 and kept["s3_storage_per_month"] == round(prices.S3_STANDARD_GB_MONTH.usd, 4)


def test_the_total_is_the_sum_of_the_services():
    priced = _only(worker_ms=30, api_ms=40, worker_requests=0.1, api_requests=1, sqs_requests=1.2, s3_put=1,
                   s3_get=2, write_units=13, read_units=1, log_bytes=2000)
    services = {name: usd for name, usd in priced.items()
                if name not in ("total", "total_without_scanning", "s3_storage_per_month", "guardduty")}
    assert all(usd > 0 for usd in services.values())
    assert abs(priced["total"] - sum(services.values())) < 1e-3


def test_scanning_pays_guardduty_per_object_and_per_gb_and_the_requests_and_writes_it_brings():
    one = _only(scanned_objects=1, scan_result_sqs=1.2)
    # The scan-index entry on the ticket's and the worker's four record writes, then the result's three units.
    assert one["guardduty"] == round((prices.GUARDDUTY_S3_OBJECT.usd + prices.S3_GET_REQUEST.usd
                                      + prices.S3_PUT_REQUEST.usd + 7 * prices.DYNAMODB_WRITE_UNIT.usd
                                      + 1.2 * prices.SQS_REQUEST.usd) * 1e6, 4)
    handled = _only(scanned_objects=1, scan_result_worker_ms=1000, scan_result_invocations=0.1)
    assert handled["guardduty"] - one["guardduty"] > 0 and handled["lambda_worker"] == 0
    assert _only(scanned_bytes=1e9 / 1e6)["guardduty"] == round(prices.GUARDDUTY_S3_GB.usd, 4)
    assert one["total_without_scanning"] == 0 and one["total"] == one["guardduty"]
    # The result tag is kept with the object, month after month.
    assert one["s3_storage_per_month"] == round(prices.S3_TAG_MONTH.usd * 1e6, 4)


def test_a_stack_that_does_not_scan_pays_no_guardduty_line():
    priced = _only(worker_ms=30, s3_put=1, write_units=13)
    assert priced["guardduty"] == 0 and priced["total"] == priced["total_without_scanning"]


def test_each_record_write_also_pays_the_index_entries_it_rewrites():
    from bench.cost import _write_units
    counted = {"worker_calls_per_file": {
        "transaction_items_per_file": {"ticket": 3, "worker": 2},
        "calls_per_file_by_phase": {"ticket": {"dynamodb.UpdateItem": 1}, "worker": {"dynamodb.UpdateItem": 2}}}}
    # Ticket: a transaction of three items, the rate-limit update, and the record's two index entries.
    assert _write_units(counted, "ticket") == 2 * 3 + 1 + 2
    # Worker: a transaction of two, two updates, and three record writes' index entries.
    assert _write_units(counted, "worker") == 2 * 2 + 2 + 3 * 2
