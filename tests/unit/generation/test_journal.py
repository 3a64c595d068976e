"""The answer store stays within its bound, keeping its newest answers."""

from embedtune.generation import journal


def _store(tmp_path, count):
    items = [(f"key{i:04d}", f"answer number {i} " + "x" * 80, 100, 10) for i in range(count)]
    journal.append_answers(tmp_path, items)
    return tmp_path / journal.ANSWERS_FILE


def test_a_store_under_its_bound_is_left_alone(tmp_path):
    path = _store(tmp_path, 50)
    before = path.read_bytes()
    assert journal.bound_answers(path, path.stat().st_size) == 0
    assert path.read_bytes() == before


def test_past_the_bound_the_oldest_answers_go_and_the_newest_stay_readable(tmp_path):
    path = _store(tmp_path, 200)
    bound = path.stat().st_size // 2
    dropped = journal.bound_answers(path, bound)
    kept = journal.read_answers(tmp_path)
    assert dropped > 0 and len(kept) == 200 - dropped
    assert path.stat().st_size <= 0.8 * bound
    assert set(kept) == {f"key{i:04d}" for i in range(200 - len(kept), 200)}  # the newest, whole lines only
    assert not list(tmp_path.glob("*.tmp"))


def test_store_answers_applies_the_bound(tmp_path):
    rows = [{"row_id": f"c{i}::0", "messages": [{"role": "user", "content": f"passage {i}"}]} for i in range(100)]
    results = {row["row_id"]: ("q " + "y" * 200, 50, 5) for row in rows}
    assert journal.store_answers(tmp_path, "settings", rows, results, set(), max_mb=0.01) == 100
    assert (tmp_path / journal.ANSWERS_FILE).stat().st_size <= 0.8 * 0.01 * 2**20
    assert 0 < len(journal.read_answers(tmp_path)) < 100


def test_count_stored_counts_the_rows_whose_answers_the_store_holds(tmp_path):
    rows = [{"row_id": f"doc-{i}#0::0", "messages": [{"role": "user", "content": f"passage {i}"}]} for i in range(3)]
    assert journal.count_stored(tmp_path, "settings", rows) == 0  # no store yet
    journal.store_answers(tmp_path, "settings", rows[:2], {row["row_id"]: ("answer", 5, 1) for row in rows[:2]}, set())
    assert journal.count_stored(tmp_path, "settings", rows) == 2
    assert journal.count_stored(tmp_path, "other settings", rows) == 0
