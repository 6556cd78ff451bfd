"""ModelTurns: prediction batches and explanation chunks take turns on the model (threads, no server)."""

from __future__ import annotations

import threading
import time

from fairtune.serve._turns import ModelTurns


def test_one_user_at_a_time_and_a_waiting_prediction_goes_before_the_next_chunk() -> None:
    waits: list[int] = []
    turns = ModelTurns(on_predict_wait=waits.append)
    order: list[str] = []
    inside = threading.Semaphore(1)
    started = threading.Event()

    def explanation() -> None:
        for k in range(3):
            turns.explain_turn()
            assert inside.acquire(blocking=False)  # nobody else holds the model
            order.append(f"chunk-{k}")
            started.set()
            time.sleep(0.02)
            inside.release()
        turns.explain_done()

    def prediction() -> None:
        with turns.predict():
            assert inside.acquire(blocking=False)
            order.append("predict")
            inside.release()

    t = threading.Thread(target=explanation)
    t.start()
    started.wait(5)
    prediction()  # arrives during chunk 0: runs before chunk 1
    t.join(5)
    assert order == ["chunk-0", "predict", "chunk-1", "chunk-2"]
    assert waits == [1]


def test_under_a_steady_stream_both_sides_progress_and_no_prediction_waits_for_two_chunks() -> None:
    waits: list[int] = []
    turns = ModelTurns(on_predict_wait=waits.append)
    done = threading.Event()

    def explanation() -> None:
        for _ in range(40):
            turns.explain_turn()
            time.sleep(0.001)
        turns.explain_done()
        done.set()

    def predictions() -> None:
        while not done.is_set():
            with turns.predict():
                time.sleep(0.001)

    workers = [threading.Thread(target=predictions)]  # the server runs one prediction batch at a time
    for w in workers:
        w.start()
    explainer = threading.Thread(target=explanation)
    explainer.start()
    explainer.join(20)
    for w in workers:
        w.join(20)
    assert done.is_set()  # the explanation was not starved by back-to-back batches
    assert waits and max(waits) <= 1
    assert turns.explain_chunks == 40


def test_an_explanation_that_fails_gives_the_model_back() -> None:
    turns = ModelTurns()
    turns.explain_turn()
    turns.explain_done()  # what the server's `finally` does
    t = threading.Thread(target=lambda: turns.predict().__enter__())
    t.start()
    t.join(2)
    assert not t.is_alive()
