"""wildpose.locking.exclusive: a second holder waits until the first lets go."""

from __future__ import annotations

import threading
import time

from wildpose.locking import exclusive


def test_a_second_holder_waits_for_the_first_and_the_lock_file_stays(tmp_path):
    lock = tmp_path / "sub" / "cache.lock"          # the parent folder is created
    order: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait(5)
        with exclusive(lock):
            order.append("second in")

    t = threading.Thread(target=second)
    t.start()
    with exclusive(lock):
        order.append("first in")
        first_in.set()
        time.sleep(0.3)                              # the second thread is blocked meanwhile
        order.append("first out")
    t.join(5)
    assert order == ["first in", "first out", "second in"]
    assert lock.is_file()                            # left in place on purpose


def test_the_lock_is_released_when_the_body_raises(tmp_path):
    lock = tmp_path / "x.lock"
    try:
        with exclusive(lock):
            raise RuntimeError("build failed")
    except RuntimeError:
        pass
    done = threading.Event()

    def take() -> None:
        with exclusive(lock):
            done.set()

    t = threading.Thread(target=take)
    t.start()
    assert done.wait(5)                              # not held any more: taken at once
    t.join(5)
