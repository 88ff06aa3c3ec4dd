"""Report: length histogram bins, report.md tables and the PNG."""

from zili.text.report import LENGTH_EDGES, length_histogram


def test_length_histogram_bins():
    h = length_histogram([0, 9, 10, 19, 20, 99, 100, 150000], [10, 100])
    assert h["edges"] == LENGTH_EDGES
    want_all = [0] * len(LENGTH_EDGES)
    want_all[0] = 2  # 0, 9
    want_all[1] = 2  # 10, 19
    want_all[2] = 1  # 20
    want_all[3] = 1  # 99
    want_all[4] = 1  # 100
    want_all[-1] = 1  # open-ended last bin
    assert h["all"] == want_all
    assert sum(h["kept"]) == 2 and h["kept"][1] == 1 and h["kept"][4] == 1
