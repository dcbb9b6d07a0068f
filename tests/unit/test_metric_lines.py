"""The local stack's log: the functions' metric lines (CloudWatch EMF) are left out unless --metrics."""

import io
import json
import threading

from local.metric_lines import WithoutMetricLines

EMF = json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}, "TicketsSold": [1.0]}, separators=(",", ":"))


def test_metric_lines_are_dropped_whole_and_every_other_line_passes():
    out = io.StringIO()
    log = WithoutMetricLines(out)
    # As print() writes: the text, then the newline, in two calls.
    for line in ("POST /api/payments/create-payment-intent/ -> 200 (12 ms)", EMF, '{"level": "WARNING"}', EMF, "Stopping."):
        print(line, file=log)
    assert out.getvalue().splitlines() == [
        "POST /api/payments/create-payment-intent/ -> 200 (12 ms)",
        '{"level": "WARNING"}',
        "Stopping.",
    ]


def test_a_line_is_written_when_it_ends():
    out = io.StringIO()
    log = WithoutMetricLines(out)
    log.write("Starting the local stack")
    log.write('...\n{"_a')
    assert out.getvalue() == "Starting the local stack...\n"
    log.write('ws": 1}\n{"other": 2}\n')
    assert out.getvalue() == 'Starting the local stack...\n{"other": 2}\n'


def test_threads_writing_at_once_do_not_cut_each_others_lines():
    out = io.StringIO()
    log = WithoutMetricLines(out)

    def request_log(n: int) -> None:
        for i in range(200):
            print(EMF if i % 2 else f"request {n}-{i}", file=log)

    threads = [threading.Thread(target=request_log, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert sorted(lines) == sorted(f"request {n}-{i}" for n in range(4) for i in range(0, 200, 2))
