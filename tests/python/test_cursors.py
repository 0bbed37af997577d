"""GetCursor (begin, end, by receive time), GetCursorTime, the previous-cursor helper, and PullLogs
at the end of data and with an end cursor."""
import math
import time

import pytest
from aliyun.log import LogException

from conftest import assert_sdk_error, cursor_int, cursor_str, log_item, pull_all, put_request


def put_one(client, project, logstore, tag, shard_key=None):
    client.put_logs(put_request(project, logstore, "t", "s", [log_item(1_600_000_000, [("tag", tag)], 5)],
                                hash_key=shard_key))


def tags(groups):
    return [g.Logs[0].Contents[0].Value for g in groups]


def test_cursors_follow_receive_time(client, project):
    """Two bursts of writes in different seconds. Log times are in 2020 on purpose: cursors by
    time use the server's receive time, never the log time."""
    client.create_logstore(project, "times", ttl=30, shard_count=1)
    begin = client.get_cursor(project, "times", 0, "begin").get_cursor()
    assert begin == cursor_str(0) and client.get_cursor(project, "times", 0, "end").get_cursor() == begin
    assert client.get_cursor(project, "times", 0, int(time.time())).get_cursor() == begin

    windows = []
    for burst in range(2):
        before = time.time()
        for i in range(10):
            put_one(client, project, "times", f"{burst}-{i}")
        after = time.time()
        windows.append((math.floor(before), math.floor(after)))
        # Let the clock pass a whole second so the second burst is received in a later second.
        time.sleep(max(0.0, math.floor(after) + 1.05 - time.time()))

    end = client.get_cursor(project, "times", 0, "end").get_cursor()
    assert end == cursor_str(20)
    times = []
    for c in range(20):
        t = client.get_cursor_time(project, "times", 0, cursor_str(c)).get_cursor_time()
        lo, hi = windows[c // 10]
        assert isinstance(t, int)
        assert lo <= t <= hi, f"cursor {c}: cursor_time {t} outside the write window [{lo}, {hi}]"
        times.append(t)
    assert times == sorted(times)
    assert times[10] > times[9]

    # A time before the data gives the begin cursor, after it the end cursor.
    assert client.get_cursor(project, "times", 0, windows[0][0] - 3600).get_cursor() == begin
    assert client.get_cursor(project, "times", 0, windows[1][1] + 3600).get_cursor() == end
    # A time gives the first LogGroup received at or after it.
    assert client.get_cursor(project, "times", 0, times[10]).get_cursor() == cursor_str(10)
    for c in range(20):
        found = cursor_int(client.get_cursor(project, "times", 0, times[c]).get_cursor())
        assert found <= c and times[found] == times[c] and (found == 0 or times[found - 1] < times[c])
    # The SDK's pull_log(from_time, to_time) reads by receive time too.
    second = [g for res in client.pull_log(project, "times", 0, times[10], times[19] + 1) for g in
              res.get_loggroup_list().LogGroups]
    assert tags(second) == [f"1-{i}" for i in range(10)]

    # get_previous_cursor_time: the time of the LogGroup before a cursor.
    assert client.get_previous_cursor_time(project, "times", 0, end).get_cursor_time() == times[19]
    assert client.get_previous_cursor_time(project, "times", 0, cursor_str(10)).get_cursor_time() == times[9]
    # Before the first LogGroup the SDK asks for cursor -1, gets InvalidCursor and falls back to
    # the begin cursor's time.
    assert client.get_previous_cursor_time(project, "times", 0, begin).get_cursor_time() == times[0]
    with pytest.raises(LogException) as e:
        client.get_cursor_time(project, "times", 0, cursor_str(-1))
    assert_sdk_error(e, 400, "InvalidCursor")
    assert client.get_begin_cursor(project, "times", 0).get_cursor() == begin
    assert client.get_end_cursor(project, "times", 0).get_cursor() == end

    # Out of range cursors are InvalidCursor.
    for bad in (cursor_str(21), cursor_str(500), cursor_str(10 ** 15)):
        with pytest.raises(LogException) as e:
            client.get_cursor_time(project, "times", 0, bad)
        assert_sdk_error(e, 400, "InvalidCursor")
    with pytest.raises(LogException) as e:
        client.get_cursor_time(project, "times", 0, "%%not-base64%%")
    assert_sdk_error(e, 400, "ParameterInvalid")


def test_pull_at_end_and_with_end_cursor(client, project):
    client.create_logstore(project, "ends", ttl=30, shard_count=1)
    begin = client.get_cursor(project, "ends", 0, "begin").get_cursor()
    # An empty shard: nothing, cursor unchanged.
    res = client.pull_logs(project, "ends", 0, begin, 100)
    assert res.get_loggroup_count() == 0 and res.get_next_cursor() == begin
    for i in range(10):
        put_one(client, project, "ends", str(i))
    end = client.get_cursor(project, "ends", 0, "end").get_cursor()
    assert end == cursor_str(10)

    res = client.pull_logs(project, "ends", 0, end, 100)
    assert res.get_loggroup_count() == 0
    assert res.get_next_cursor() == end, "at the end of data the cursor comes back unchanged"
    assert int(res.get_all_headers()["x-log-bodyrawsize"]) == 0

    res = client.pull_logs(project, "ends", 0, begin, 100, end_cursor=cursor_str(4))
    assert res.get_loggroup_count() == 4 and res.get_next_cursor() == cursor_str(4)
    assert tags(res.get_loggroup_list().LogGroups) == ["0", "1", "2", "3"]
    res = client.pull_logs(project, "ends", 0, cursor_str(4), 100, end_cursor=cursor_str(4))
    assert res.get_loggroup_count() == 0 and res.get_next_cursor() == cursor_str(4)

    res = client.pull_logs(project, "ends", 0, cursor_str(2), 3, end_cursor=cursor_str(7))
    assert tags(res.get_loggroup_list().LogGroups) == ["2", "3", "4"]
    assert res.get_next_cursor() == cursor_str(5)
    res = client.pull_logs(project, "ends", 0, res.get_next_cursor(), 100, end_cursor=cursor_str(7))
    assert tags(res.get_loggroup_list().LogGroups) == ["5", "6"] and res.get_next_cursor() == cursor_str(7)

    res = client.pull_logs(project, "ends", 0, begin, 1)
    assert res.get_loggroup_count() == 1 and res.get_next_cursor() == cursor_str(1)

    # Data written after a reader reached the end is found from the cursor it holds.
    put_one(client, project, "ends", "late")
    res = client.pull_logs(project, "ends", 0, end, 100)
    assert tags(res.get_loggroup_list().LogGroups) == ["late"]
    assert res.get_next_cursor() == cursor_str(11)


def test_cursor_spellings_are_tolerated(client, project):
    """Unpadded base64 and a trailing newline (the SDK's own re-encoding) are the same cursor."""
    client.create_logstore(project, "spell", ttl=30, shard_count=1)
    for i in range(12):
        put_one(client, project, "spell", str(i))
    for spelling in ("MTA=", "MTA", "MTA=\n"):
        res = client.pull_logs(project, "spell", 0, spelling, 100)
        assert tags(res.get_loggroup_list().LogGroups) == ["10", "11"], spelling
        assert cursor_int(res.get_next_cursor()) == 12
    t = client.get_cursor_time(project, "spell", 0, "MTA").get_cursor_time()
    assert t == client.get_cursor_time(project, "spell", 0, "MTA=").get_cursor_time()


def test_invalid_cursors_on_pull(client, project):
    client.create_logstore(project, "badcur", ttl=30, shard_count=1)
    for i in range(3):
        put_one(client, project, "badcur", str(i))
    for bad in ("not a cursor!", "bm90LWEtbnVtYmVy", "MTJh"):   # garbage, base64("not-a-number"), base64("12a")
        with pytest.raises(LogException) as e:
            client.pull_logs(project, "badcur", 0, bad, 10)
        assert_sdk_error(e, 400, "ParameterInvalid")
    # Well formed but outside [begin, end]: after the end, or before the beginning (negative).
    for bad in (cursor_str(4), cursor_str(1 << 40), cursor_str(-1)):
        with pytest.raises(LogException) as e:
            client.pull_logs(project, "badcur", 0, bad, 10)
        assert_sdk_error(e, 400, "InvalidCursor")
    with pytest.raises(LogException) as e:
        client.pull_logs(project, "badcur", 0, cursor_str(0), 10, end_cursor="%%%")
    assert_sdk_error(e, 400, "ParameterInvalid")
    # The end cursor itself is valid; nothing has been lost.
    assert len(pull_all(client, project, "badcur", 0)) == 3
