"""The benchmark's summary arithmetic (the measurement itself is run by hand: `make bench`)."""

from benchmarks.resnet50_speed import summarise


def test_summary_reports_medians_spread_and_ratio():
    runs = [
        {"model": m, "train_ips": t, "infer_ips": i, "peak_mb": 1000.0 + t, "params": 7}
        for m, t, i in [
            ("course", 10.0, 40.0),
            ("course", 30.0, 20.0),
            ("course", 20.0, 30.0),
            ("keras", 8.0, 60.0),
            ("keras", 12.0, 60.0),
            ("keras", 10.0, 60.0),
        ]
    ]
    text = summarise(runs)
    assert "course  train   20.0 img/s (min 10.0, max 30.0)" in text
    assert "peak memory 1,030 MB" in text
    assert "ratio course/keras (medians): training 2.000   inference 0.500" in text


def test_training_setup_summary_reports_medians_spread_and_ratio_to_the_notebook():
    from benchmarks.training_setup import summarise as summarise_setups

    runs = [
        {"config": c, "first_s": f, "steady_ips": s}
        for c, f, s in [
            ("notebook", 20.0, 40.0),
            ("notebook", 18.0, 50.0),
            ("notebook", 19.0, 45.0),
            ("eager", 5.0, 20.0),
            ("eager", 6.0, 25.0),
            ("eager", 4.0, 22.5),
        ]
    ]
    lines = summarise_setups(runs, ["notebook", "eager"]).splitlines()
    assert lines[1].startswith("notebook          19.0 (min  18.0, max  20.0)      45.0 (min  40.0, max  50.0)")
    assert lines[1].endswith("first 1.00  steady 1.00")
    assert lines[2].endswith("first 0.26  steady 0.50")


def test_a_failing_measurement_process_is_reported_with_its_stderr():
    import pytest

    from benchmarks.common import MeasurementFailed, measure_in_fresh_process

    with pytest.raises(MeasurementFailed, match="No such file"):
        measure_in_fresh_process("json.tool", ["/nonexistent/results.json"])
